"""Property tests of the SML reader and decoder (hypothesis: CPython only).

Any bytes, however chunked, end in telegrams or typed errors, never another
exception, a hang or a growing buffer; damaged real frames never come out as
good telegrams with wrong values; telegrams built by the encoder come back with
exactly their values; every split of a telegram gives the same events.
"""

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smlhelp import describe, sml_encode
from testvectors import vectors, wire

from metereye import sml, sml_json
from metereye.errors import MeterEyeError

REAL = [wire(v) for v in vectors("sml_vectors.json")]
GOOD = [wire(v) for v in vectors("sml_vectors.json") if v["crc_ok"]]
EXPECTED = {wire(v): [(e["obis"], e["value"]) for e in v["entries"]]
            for v in vectors("sml_vectors.json") if v["crc_ok"]}
TRIED = {"random": 0, "alphabet": 0, "mutated": 0, "roundtrip": 0, "splits": 0}
# The bytes the transport cares about, so random input reaches every state.
ALPHABET = [0x1B, 0x1B, 0x1B, 0x01, 0x1A, 0x00, 0x76, 0x77, 0x62, 0x63, 0x52, 0x65, 0x69,
            0x83, 0x02, 0xFF, 0x2F, 0x0D, 0x0A, 0x41]


def _consume(data, sizes, reader=None):
    reader = reader or sml.SmlReader()
    size = len(reader._buf)
    events = []
    i = 0
    k = 0
    while i < len(data):
        step = sizes[k % len(sizes)] if sizes else len(data)
        events.extend(reader.feed(data[i:i + step]))
        i += step
        k += 1
        assert len(reader._buf) == size                 # one buffer, never grown
    events.extend(reader.finish())
    for ev in events:
        assert isinstance(ev, (sml.Telegram, MeterEyeError)), ev
        if isinstance(ev, sml.Telegram):
            assert ev.crc in ("x25", "kermit") and ev.crc_ok
    return events


def _decode(data):
    out, code = sml_json.decode(data)       # never raises, whatever the bytes
    assert code in (0, 1, 2)
    json.dumps(out)
    return out


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=8))
def test_random_bytes_end_in_telegrams_or_typed_errors(data, sizes):
    TRIED["random"] += 1
    _consume(data, sizes)
    _decode(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ALPHABET), max_size=400), st.lists(st.integers(1, 16), max_size=6))
def test_transport_bytes_in_any_order_end_in_telegrams_or_typed_errors(values, sizes):
    TRIED["alphabet"] += 1
    data = sml_encode.START + bytes(values)
    _consume(data, sizes)
    _consume(data, sizes, sml.SmlReader(max_telegram=64))
    _decode(data)


@st.composite
def _mutated(draw):
    original = draw(st.sampled_from(REAL))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "drop", "insert", "cut")))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "drop":
            del data[i]
        elif kind == "insert":
            data.insert(i, draw(st.integers(0, 255)))
        else:
            del data[i:]
        if not data:
            break
    return original, bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(), st.lists(st.integers(1, 64), max_size=8))
def test_damaged_real_frames_never_give_wrong_values(mutated, sizes):
    # A telegram that still comes out is the original's (the damage fell outside
    # it); the broken originals never give one.
    original, data = mutated
    TRIED["mutated"] += 1
    for ev in _consume(data, sizes):
        if isinstance(ev, sml.Telegram):
            assert [(e.obis, e.value) for e in ev.entries] == EXPECTED[original]
    _decode(data)


_OBIS = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
                  st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))


@st.composite
def _entry(draw):
    obis = "%d-%d:%d.%d.%d*%d" % draw(_OBIS)
    kind = draw(st.sampled_from(("u", "i", "o", "b")))
    if kind == "o":
        value = draw(st.binary(max_size=70) | st.just(b"\x1b" * 9))
        if not value:
            value = b"\x1b"
    elif kind == "b":
        value = draw(st.booleans())
    else:
        width = draw(st.integers(1, 8))
        if kind == "u":
            value = draw(st.integers(0, (1 << (8 * width)) - 1))
        else:
            value = draw(st.integers(-(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1))
    unit = draw(st.none() | st.sampled_from((8, 27, 30, 33, 35, 44, 0, 255, 99)))
    scaler = draw(st.none() | st.integers(-8, 8))
    status = draw(st.none() | st.integers(0, (1 << 32) - 1))
    node = sml_encode.list_entry(obis, value, unit, scaler, status, signed=(kind == "i"))
    return node, (obis, value, scaler, unit, status)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry(), min_size=1, max_size=12), st.sampled_from(("x25", "kermit")),
       st.integers(1, 0xFFFFFFFF), st.lists(st.integers(1, 40), max_size=5))
def test_telegrams_built_by_the_encoder_come_back_exactly(entries, crc, transaction, sizes):
    TRIED["roundtrip"] += 1
    data = sml_encode.telegram(b"\x0a\x01ESY\x02\x00\x00\x00\x01", [n for n, _ in entries], transaction, crc)
    events = _consume(data, sizes, sml.SmlReader(max_telegram=4096))
    assert len(events) == 1 and isinstance(events[0], sml.Telegram), events
    t = events[0]
    assert t.crc == crc
    got = [(e.obis, e.raw, e.scaler, e.unit_code, e.status) for e in t.entries]
    assert got == [w for _, w in entries]
    for e, (_, (_, value, scaler, _, _)) in zip(t.entries, entries):
        if e.is_number:
            # The exact decimal: raw × 10^scaler with -scaler decimals, no float on the way.
            assert Decimal(e.value) == Decimal(value).scaleb(scaler or 0), (e.value, value, scaler)
            assert len(e.value.partition(".")[2]) == max(0, -(scaler or 0)), e.value


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(GOOD), st.lists(st.integers(0, 600), max_size=12))
def test_every_split_of_a_telegram_gives_the_same_events(data, cuts):
    TRIED["splits"] += 1
    whole = sml.SmlReader()
    want = [describe(e) for e in list(whole.feed(data)) + list(whole.finish())]
    reader = sml.SmlReader()
    got = []
    prev = 0
    for cut in sorted(c for c in cuts if c < len(data)) + [len(data)]:
        got.extend(reader.feed(data[prev:cut]))
        prev = cut
    got.extend(reader.finish())
    assert [describe(e) for e in got] == want


def test_zz_report_how_many_inputs_were_tried():
    print("\nSML property inputs tried:", TRIED)
    assert sum(TRIED.values()) > 0
