"""KmpSession driven by a scripted meter: no I/O, time passed in by hand."""

from metereye import kmp
from metereye.actions import Done, Receive, Send, Sleep


def _answer(regs):
    data = b"".join(kmp.encode_register(rid, unit, raw, exp) for rid, unit, raw, exp in regs)
    return kmp.encode_response(kmp.GET_REGISTER, data)


def _drive(session, meter, echo=True):
    """Run the session; `meter(request_bytes, n)` returns the bytes the line brings back."""
    now = 0
    action = session.start(now)
    n = 0
    sent = []
    while not isinstance(action, Done):
        if isinstance(action, Send):
            sent.append(action.data)
            assert action.baud == 1200 and action.framing == "8N2"
            now += session.wire_ms(len(action.data))
            action = session.sent(now)
            back = meter(sent[-1], n)
            n += 1
            if echo:
                back = sent[-1] + back
            assert isinstance(action, Receive)
            deadline = action.deadline_ms
            got = None
            for i in range(0, len(back), 5):   # the line brings bytes in chunks
                now += 4
                got = session.received(back[i:i + 5], now)
                if got is not None:
                    break
            if got is None:
                now = deadline
                got = session.received(b"", now)
            action = got
        elif isinstance(action, Sleep):
            assert action.until_ms > now
            now = action.until_ms
            action = session.woke(now)
        else:
            raise AssertionError(action)
    return action.result, sent


def test_reads_every_register_in_as_few_requests_as_allowed():
    ids = list(range(100, 111))          # 11 ids: two GetRegister requests
    def meter(req, n):
        frame = kmp.read_frames(req)[0]
        if frame.cid == kmp.GET_SERIAL:
            return kmp.encode_response(kmp.GET_SERIAL, b"\x04\x83\xda\x69")
        asked = kmp.decode_requested_ids(frame.data)
        return _answer([(rid, 40, rid * 1000 + 1, -3) for rid in asked])
    result, sent = _drive(kmp.KmpSession(ids), meter)
    assert result.outcome == "ok" and result.complete
    assert len(sent) == 3 and result.requests == 3
    assert result.serial == 75749993
    assert sorted(result.registers) == ids
    assert result.registers[105].value == "105.001"
    assert result.echo_seen


def test_registers_are_matched_by_id_not_position():
    def meter(req, n):
        # leaves out 74, answers in another order, adds one nobody asked for
        return _answer([(243, 40, 0, -3), (68, 40, 831403, -3), (9999, 40, 1, 0)])
    result, _ = _drive(kmp.KmpSession([68, 74, 243], want_serial=False), meter)
    assert result.outcome == "ok"
    assert sorted(result.registers) == [68, 243]
    assert result.registers[68].value == "831.403"


def test_a_broken_answer_is_retried_once():
    good = _answer([(68, 40, 8541, -3)])
    bad = bytearray(good)
    bad[-3] ^= 0x20
    def meter(req, n):
        return bytes(bad) if n == 0 else good
    result, sent = _drive(kmp.KmpSession([68], want_serial=False), meter)
    assert result.outcome == "ok" and len(sent) == 2
    assert [e.token for e in result.errors] == ["crc"]
    assert result.registers[68].value == "8.541"


def test_only_our_echo_means_asleep():
    result, sent = _drive(kmp.KmpSession([68], want_serial=False), lambda req, n: b"")
    assert result.outcome == "asleep" and not result.registers
    assert len(sent) == 2          # one retry, no more


def test_no_light_back_at_all_points_at_the_head():
    result, _ = _drive(kmp.KmpSession([68], want_serial=False), lambda req, n: b"", echo=False)
    assert result.outcome == "no_echo"


def test_silence_after_answers_is_a_suspected_lockout():
    def meter(req, n):
        if n == 0:
            return kmp.encode_response(kmp.GET_SERIAL, b"\x00\x00\x00\x01")
        return b""
    result, _ = _drive(kmp.KmpSession(list(range(1, 12))), meter)
    assert result.outcome == "lockout"
    assert result.serial == 1 and not result.registers


def test_an_ack_where_data_was_asked_is_unexpected():
    result, _ = _drive(kmp.KmpSession([68], want_serial=False), lambda req, n: b"\x06")
    assert result.outcome == "garbled"
    assert [e.token for e in result.errors] == ["unexpected_reply", "unexpected_reply"]
