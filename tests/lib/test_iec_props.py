"""Property tests of the IEC 62056-21 / P1 reader, decoder, listener and session
(hypothesis: CPython only).

Every input ends in events or typed errors, never another exception, a hang or
an unbounded buffer, whatever the bytes and however they are chunked; readouts
built by the grammar come back as they were written.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testvectors import vectors, wire

from metereye import iec, iec_json, p1
from metereye.actions import Done, Receive, Send, SetLine, Sleep
from metereye.errors import MeterEyeError

REAL = [wire(v) for v in vectors("iec_vectors.json") if v["hex"]]
TRIED = {"random": 0, "alphabet": 0, "mutated": 0, "roundtrip": 0, "session": 0}
EVENTS = (iec.Request, iec.Identification, iec.Ack, iec.Nak, iec.Command, iec.DataSet, iec.End, MeterEyeError)
# The bytes the grammar cares about, so random input reaches every state.
ALPHABET = b"/?!()*&\\\r\n\x01\x02\x03\x06\x15\x1b\x01\x1a 0159ACKZafx.:-" + bytes((0x7F, 0xAF, 0x00))


def _consume(data, sizes):
    reader = iec.IecReader()
    events = []
    i = 0
    k = 0
    while i < len(data):
        step = sizes[k % len(sizes)] if sizes else len(data)
        events.extend(reader.feed(data[i:i + step]))
        i += step
        k += 1
        assert len(reader._buf) == iec.IecReader.MAX_FIELD          # never grows
        assert len(reader._sets) <= iec.IecReader.MAX_LINE_SETS      # held back: bounded
    events.extend(reader.finish())
    for ev in events:
        assert isinstance(ev, EVENTS), ev
        if isinstance(ev, iec.DataSet):
            assert len(ev.values) <= iec.IecReader.MAX_GROUPS
            for value, unit in ev.values:
                assert len(value) <= iec.IecReader.MAX_FIELD
    return events, reader


def _describe(ev):
    if isinstance(ev, iec.DataSet):
        return ("set", ev.obis, tuple(ev.values))
    if isinstance(ev, iec.End):
        return ("end", ev.check, ev.ok, ev.framed)
    if isinstance(ev, MeterEyeError):
        return ("error", ev.token)
    return (type(ev).__name__, repr(ev))


def _decode(data):
    out, code = iec_json.decode(data)       # never raises, whatever the bytes
    assert code in (0, 1, 2)
    json.dumps(out)
    return out


def _listen(data, size):
    listener = p1.PushListener()
    got = []
    for i in range(0, len(data), size):
        got.extend(listener.feed(data[i:i + size]))
    got.extend(listener.finish())
    for ev in got:
        assert isinstance(ev, (p1.Telegram, MeterEyeError)), ev


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=8))
def test_random_bytes_end_in_events_or_typed_errors(data, sizes):
    TRIED["random"] += 1
    _consume(data, sizes)
    _decode(data)
    _listen(data, 13)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ALPHABET), max_size=400), st.lists(st.integers(1, 32), max_size=6))
def test_protocol_characters_in_any_order_end_in_events_or_typed_errors(chars, sizes):
    TRIED["alphabet"] += 1
    data = bytes(chars)
    whole = [_describe(e) for e in _consume(data, [])[0]]
    assert [_describe(e) for e in _consume(data, sizes)[0]] == whole
    _decode(data)
    _listen(data, 5)


@st.composite
def mutated_readouts(draw):
    frame = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("flip", "drop", "insert", "cut", "splice")))
        if not frame:
            break
        i = draw(st.integers(0, len(frame) - 1))
        if op == "flip":
            frame[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "drop":
            del frame[i]
        elif op == "insert":
            frame.insert(i, draw(st.sampled_from(ALPHABET)))
        elif op == "cut":
            del frame[i:]
        else:
            frame[i:i] = draw(st.sampled_from(REAL))[:draw(st.integers(1, 80))]
    return bytes(frame)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_readouts(), st.lists(st.integers(1, 16), max_size=6))
def test_mutated_real_readouts_idents_and_telegrams_end_in_events_or_typed_errors(data, sizes):
    TRIED["mutated"] += 1
    whole = [_describe(e) for e in _consume(data, [])[0]]
    assert [_describe(e) for e in _consume(data, sizes)[0]] == whole
    _decode(data)


# Characters by the grammar (docs/iec62056-21.md §4): ids without ( ) ! / and line ends,
# values without ( ) * / ! &, units without ( ) / ! &.
_PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
_ID = st.text(st.sampled_from([c for c in _PRINTABLE if c not in "()!/"]), min_size=1, max_size=20)
_VALUE = st.text(st.sampled_from([c for c in _PRINTABLE if c not in "()*/!&"]), max_size=24)
_UNIT = st.one_of(st.none(), st.text(st.sampled_from([c for c in _PRINTABLE if c not in "()/!&"]), max_size=6))
_SET = st.tuples(_ID, st.lists(st.tuples(_VALUE, _UNIT), min_size=1, max_size=4))


def _group(value, unit):
    return "(" + value + ("" if unit is None else "*" + unit) + ")"


@settings(max_examples=500, deadline=None)
@given(st.lists(_SET, max_size=12), st.booleans(), st.lists(st.integers(1, 9), max_size=4),
       st.integers(1, 3))
def test_readouts_built_by_the_grammar_come_back_as_written(sets, push, sizes, per_line):
    TRIED["roundtrip"] += 1
    lines = []
    for i in range(0, len(sets), per_line):
        lines.append("".join(obis + "".join(_group(v, u) for v, u in values)
                             for obis, values in sets[i:i + per_line]))
    body = "".join(line + "\r\n" for line in lines)
    if push:
        head = b"/XYZ5TEST\r\n\r\n" + body.encode() + b"!"
        crc = 0
        for b in head:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        data = head + b"%04x\r\n" % crc
    else:
        block = (body + "!\r\n\x03").encode()
        check = 0
        for b in block:
            check ^= b
        data = b"/XYZ5TEST\r\n\x02" + block + bytes((check,))
    events, _ = _consume(data, sizes)
    got = [(e.obis, e.values) for e in events if isinstance(e, iec.DataSet)]
    assert got == [(obis, values) for obis, values in sets]
    assert isinstance(events[-1], iec.End) and events[-1].ok is True
    assert events[-1].check == ("crc" if push else "bcc")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=120), max_size=12), st.lists(st.integers(1, 40), min_size=1, max_size=5),
       st.integers(300, 19200), st.booleans())
def test_a_session_ends_whatever_the_meter_says(replies, sizes, max_baud, fallback):
    TRIED["session"] += 1
    replies = list(replies)
    if replies:     # give the reader something to work on now and then
        replies[0] = b"/ABC5X\r\n" + replies[0]
    session = iec.IecSession(max_baud=max_baud, fallback=fallback)
    now = 0
    action = session.start(now)
    steps = 0
    while not isinstance(action, Done):
        steps += 1
        assert steps < 2000, "session does not end"
        if isinstance(action, Send):
            now += 50
            action = session.sent(now)
        elif isinstance(action, SetLine):
            action = session.line_set(now)
        elif isinstance(action, Sleep):
            assert action.until_ms >= now
            now = action.until_ms
            action = session.woke(now)
        else:
            assert isinstance(action, Receive) and action.deadline_ms > now
            got = None
            if replies:
                data = replies.pop(0)
                for i in range(0, len(data), sizes[0]):
                    now += 10
                    got = session.received(data[i:i + sizes[0]], now)
                    if got is not None:
                        break
            if got is None:
                now = max(now, action.deadline_ms)
                got = session.received(b"", now)
            action = got
    assert action.result.outcome in ("ok", "garbled", "asleep", "no_echo")
    assert now <= session.max_readout_ms * 3 + 60000


def test_zz_report_how_many_inputs_were_tried():
    print("\nIEC property inputs tried:", TRIED)
    assert sum(TRIED.values()) > 0
