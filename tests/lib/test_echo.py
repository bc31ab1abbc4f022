"""The head's echo test, driven by hand: no I/O."""

from metereye.actions import Done, Receive, Send
from metereye.echo import ECHO_OK, GARBLED, NONE, PATTERN, EchoTest


def _run(line_brings):
    t = EchoTest()
    action = t.start(0)
    assert isinstance(action, Send) and action.data == PATTERN
    for b in PATTERN:
        assert b < 0x80 and b not in (0x40, 0x2F, 0x21)   # no KMP start, no IEC '/' '!'
    action = t.sent(200)
    assert isinstance(action, Receive) and action.deadline_ms > 200
    for i in range(0, len(line_brings), 4):
        got = t.received(line_brings[i:i + 4], 210)
        if got is not None:
            return got.result
    action = t.received(b"", action.deadline_ms)
    assert isinstance(action, Done)
    return action.result


def test_our_pattern_back_means_the_head_works():
    assert _run(b"\x00" + PATTERN).outcome == ECHO_OK


def test_light_but_not_the_pattern_is_garbled():
    bad = bytearray(PATTERN)
    bad[3] ^= 0x10
    r = _run(bytes(bad))
    assert r.outcome == GARBLED and "receiver" in r.advice


def test_nothing_back_points_at_the_wiring():
    r = _run(b"")
    assert r.outcome == NONE and "wiring" in r.advice
