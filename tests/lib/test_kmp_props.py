"""Property tests of the KMP reader and decoder (hypothesis: CPython only).

Every input ends in frames or typed errors, never another exception, a hang or
an unbounded buffer, whatever the bytes and however they are chunked.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testvectors import vectors, wire

from metereye import kmp, kmp_json
from metereye.errors import MeterEyeError

REAL = [wire(v) for v in vectors("kmp_vectors.json")]
TRIED = {"random": 0, "mutated": 0, "roundtrip": 0}


def _consume(data, sizes):
    reader = kmp.KmpReader()
    events = []
    i = 0
    k = 0
    while i < len(data):
        step = sizes[k % len(sizes)] if sizes else len(data)
        events.extend(reader.feed(data[i:i + step]))
        i += step
        k += 1
        assert len(reader._buf) == kmp.MAX_FRAME
    last = reader.finish()
    if last is not None:
        events.append(last)
    for ev in events:
        assert ev is kmp.ACK or isinstance(ev, (kmp.Frame, MeterEyeError)), ev
        kmp_json.event(ev)          # describing any event never raises
    return events


def _decode(data):
    try:
        events = kmp.decode_frames(data)
    except MeterEyeError:
        return
    for ev in events:
        kmp_json.event(ev)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=8))
def test_random_bytes_end_in_frames_or_typed_errors(data, sizes):
    TRIED["random"] += 1
    _consume(data, sizes)
    _decode(data)


@st.composite
def mutated_frames(draw):
    frame = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "drop", "insert", "cut")))
        if not frame:
            break
        i = draw(st.integers(0, len(frame) - 1))
        if op == "flip":
            frame[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "drop":
            del frame[i]
        elif op == "insert":
            frame.insert(i, draw(st.integers(0, 255)))
        else:
            del frame[i:]
    return bytes(frame)


@settings(max_examples=1500, deadline=None)
@given(mutated_frames(), st.lists(st.integers(1, 16), max_size=6))
def test_mutated_real_frames_end_in_frames_or_typed_errors(data, sizes):
    TRIED["mutated"] += 1
    whole = [kmp_json.event(e) for e in _consume(data, [])]
    assert [kmp_json.event(e) for e in _consume(data, sizes)] == whole
    _decode(data)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 90), st.integers(-(2 ** 31), 2 ** 31 - 1),
                          st.integers(-63, 63)), min_size=1, max_size=8))
def test_any_register_answer_survives_encode_then_feed(regs):
    TRIED["roundtrip"] += 1
    data = b"".join(kmp.encode_register(rid, unit, raw, exp) for rid, unit, raw, exp in regs)
    events = _consume(kmp.encode_response(kmp.GET_REGISTER, data), [3])
    assert len(events) == 1 and isinstance(events[0], kmp.Frame)
    got = [(r.id, r.unit_code, r.raw, r.exponent) for r in kmp.decode_registers(events[0].data)]
    assert got == [(rid, unit, raw, exp) for rid, unit, raw, exp in regs]


def test_zz_report_how_many_inputs_were_tried():
    print("\nKMP property inputs tried:", TRIED)
    assert sum(TRIED.values()) > 0
