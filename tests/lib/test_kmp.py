"""KMP codec and stream reader against the published frames (tests/vectors/kmp_vectors.json).

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py).
"""

from testvectors import kmp_unit_table, vectors, wire

from metereye import kmp, kmp_json
from metereye.units import kmp_display, kmp_unit
from metereye.crc import crc16_xmodem
from metereye.errors import CrcMismatch, FrameError, NotAFrame, StuffingError, Truncated, WriteRefused


def _decoded(v):
    """The dict the decoder gives for a vector: the last event, the answer."""
    try:
        events = kmp.decode_frames(wire(v))
    except NotAFrame:
        return {"error": "not_a_frame"}
    return kmp_json.event(events[-1])


def test_every_vector_decodes_to_what_it_records():
    count = 0
    for v in vectors("kmp_vectors.json"):
        want = v["expected"]
        got = _decoded(v)
        count += 1
        if "error" in want:
            assert got.get("error") == want["error"], (v["id"], got)
            continue
        if want.get("ack"):
            assert got == {"frame": "ack"}, v["id"]
            continue
        assert "error" not in got, (v["id"], got)
        assert got["frame"] == v["direction"], v["id"]
        assert got["cid"] == want["cid"] and got["crc_ok"] is True, v["id"]
        assert got.get("warning") == want.get("warning"), (v["id"], got)
        assert got.get("address") == want.get("address"), v["id"]
        for key in ("meter_type", "software_revision", "serial", "data_hex"):
            assert got.get(key) == want.get(key), (v["id"], key, got.get(key))
        if "registers" in want:
            regs = got["registers"]
            assert [r["id"] for r in regs] == [r["id"] for r in want["registers"]], v["id"]
            for mine, theirs in zip(regs, want["registers"]):
                for key in ("unit_code", "raw", "exponent", "value", "display"):
                    if key in theirs:
                        assert mine[key] == theirs[key], (v["id"], key, mine)
                if "unit_string" in theirs:
                    assert mine["unit"] == theirs["unit_string"], (v["id"], mine)
    assert count >= 50


def test_same_frames_whatever_the_chunking():
    for v in vectors("kmp_vectors.json"):
        whole = [kmp_json.event(e) for e in kmp.read_frames(wire(v))]
        data = wire(v)
        for size in (1, 2, 3, 7):
            reader, got = kmp.KmpReader(), []
            for i in range(0, len(data), size):
                got.extend(reader.feed(data[i:i + size]))
            last = reader.finish()
            if last is not None:
                got.append(last)
            assert [kmp_json.event(e) for e in got] == whole, (v["id"], size)


def test_crc_check_values():
    assert crc16_xmodem(b"123456789") == 0x31C3
    assert crc16_xmodem(b"\x3f\x01") == 0x058A
    assert crc16_xmodem(b"\x3f\x02") == 0x35E9
    assert crc16_xmodem(b"\x3f\x10\x01\x00\x80") == 0xD408


def test_stuffing_round_trips_every_byte_value():
    for b in range(256):
        body = bytes((b, 0x3F, b, b))
        stuffed = kmp.stuff(body)
        for reserved in (0x06, 0x0D, 0x40, 0x80):
            assert reserved not in stuffed
        assert kmp.unstuff(stuffed) == body


def test_stuffing_escapes_as_the_document_says():
    assert kmp.stuff(b"\x80\x40\x0d\x06\x1b") == bytes.fromhex("1b7f1bbf1bf21bf91be4")


def test_illegal_escapes_are_stuffing_errors():
    for bad in (b"\x1b\x12", b"\x3f\x1b", b"\x3f\x06\x01"):
        try:
            kmp.unstuff(bad)
        except StuffingError:
            continue
        raise AssertionError(bad)


def test_requests_match_the_published_bytes():
    assert kmp.get_register_request([68]).hex() == "803f100100444dc00d"
    assert kmp.get_type_request().hex() == "803f01058a0d"
    assert kmp.get_serial_request().hex() == "803f0235e90d"
    assert kmp.get_register_request([128]).hex() == "803f1001001b7fd4080d"
    seven = [68, 1004, 99, 74, 243, 292, 299]
    assert kmp.get_register_request(seven).hex() == "803f10070044 03ec0063004a00f30124012be2c30d".replace(" ", "")
    assert kmp.get_type_request(0x3A).hex() == "803a01fa7f0d"


def test_at_most_eight_registers_per_request():
    ids = list(range(1, 20))
    parts = kmp.batches(ids)
    assert [len(p) for p in parts] == [8, 8, 3]
    try:
        kmp.get_register_request(list(range(9)))
    except ValueError:
        pass
    else:
        raise AssertionError("nine registers accepted")


def test_writing_commands_are_refused_unless_enabled():
    for cid in (0x09, 0x11, 0x9C, 0x42):
        try:
            kmp.encode_request(cid, b"\x00")
        except WriteRefused:
            pass
        else:
            raise AssertionError(cid)
    assert kmp.encode_request(0x09, b"\x00", allow_write=True)[0] == 0x80


def test_register_values_are_exact():
    data = kmp.encode_register(68, 40, 8541, -3) + kmp.encode_register(89, 38, -786, -2, 2)
    regs = kmp.decode_registers(data)
    assert [r.value for r in regs] == ["8.541", "-7.86"]
    assert [r.unit for r in regs] == ["m³", "K"]
    assert kmp.decode_registers(kmp.encode_register(1, 2, 7, 0, 1))[0].value == "7"
    assert kmp.decode_registers(kmp.encode_register(1, 2, 5, -4, 1))[0].value == "0.0005"
    assert kmp.decode_registers(kmp.encode_register(1, 2, 255, 3, 1))[0].value == "255000"


def test_register_list_that_overruns_is_a_typed_error():
    data = kmp.encode_register(68, 40, 8541, -3)[:-1]
    try:
        kmp.decode_registers(data)
    except FrameError:
        return
    raise AssertionError("overrun accepted")


def test_echo_then_answer_in_one_stream():
    answer = wire(next(v for v in vectors("kmp_vectors.json") if v["id"] == "pos-mc21-volume-with-stop"))
    request = kmp.get_register_request([68])
    events = kmp.read_frames(b"\x00\xff" + request + answer + b"\x00")
    assert [e.direction for e in events] == ["request", "response"]
    assert kmp.decode_registers(events[1].data)[0].value == "8.541"


def test_a_garbled_echo_does_not_cost_the_answer():
    answer = kmp.encode_response(0x10, kmp.encode_register(68, 40, 8541, -3))
    garbled = bytearray(kmp.get_register_request([68]))
    garbled[4] ^= 0x01
    events = kmp.read_frames(bytes(garbled) + answer)
    assert isinstance(events[0], CrcMismatch) and events[0].frame.direction == "request"
    assert isinstance(events[1], kmp.Frame) and events[1].crc_ok


def test_a_start_byte_inside_a_frame_opens_a_new_one():
    answer = kmp.encode_response(0x10, kmp.encode_register(68, 40, 8541, -3))
    events = kmp.read_frames(answer[:6] + answer)
    assert isinstance(events[0], StuffingError)
    assert isinstance(events[1], kmp.Frame)


def test_finish_reports_a_cut_frame_as_truncated():
    answer = kmp.encode_response(0x10, kmp.encode_register(68, 40, 8541, -3))
    reader = kmp.KmpReader()
    assert reader.feed(answer[:7]) == ()
    assert isinstance(reader.finish(), Truncated)
    assert reader.finish() is None


def test_noise_never_grows_the_buffer_past_its_limit():
    reader = kmp.KmpReader()
    events = list(reader.feed(b"\x40" + b"\x11" * (kmp.MAX_FRAME + 10)))
    assert [e.token for e in events] == ["too_long"]
    assert len(reader._buf) == kmp.MAX_FRAME


def test_unit_table_is_the_research_table():
    table = kmp_unit_table()
    for code in range(256):
        assert kmp_unit(code) == table.get(str(code)), code


def test_date_units_display_in_their_pattern():
    assert kmp_display(48, "220112") == "22:01:12"
    assert kmp_display(47, "4") == "00:00:04"
    assert kmp_display(50, "824") == "08:24"
    assert kmp_display(49, "20221125") == "2022:11:25"
    assert kmp_display(40, "8541") is None
