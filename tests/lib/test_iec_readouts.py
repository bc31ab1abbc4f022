"""IEC 62056-21 / P1 reader and decoder on readouts written here by the standard's
rules, the reader's limits and recovery, and the mode D listener.

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py).
"""

from iechelp import (describe as _describe, xor as _xor, readout as _readout, chunked as _chunked, decoded as _decoded, crc_arc as _crc_arc)

from testvectors import vectors, wire

from metereye import iec, iec_json, p1
from metereye.errors import FrameError, FrameTooLong


def _telegram(ident, lines, crc=True):
    """A P1 telegram: identification, blank line, lines, "!" [CRC] CR LF."""
    body = (ident + "\r\n\r\n" + "".join(line + "\r\n" for line in lines) + "!").encode()
    if crc:
        body += b"%04X" % _crc_arc(body)
    return body + b"\r\n"


def _pairs(d):
    return [(o["obis"], [(v["value"], v["unit"]) for v in o["values"]]) for o in d["objects"]]


# --- readouts written here by the standard's rules --------------------------
# None of these came from a capture: ids, values and quirks follow
# docs/iec62056-21.md §3-§5 and IEC 62056-21's grammar.

EMH_LINES = [
    "F.F(00000000)",
    "0.0.0(12345678)",
    "C.1.0(06123456)",
    "0.9.1(134512)",
    "0.9.2(240315)",
    "1-0:1.8.0*255(0012345.678*kWh)",
    "1-0:1.8.1*255(0008345.123*kWh)",
    "1-0:1.8.2*255(0004000.555*kWh)",
    "1-0:2.8.0*255(0000000.000*kWh)",
    "1-0:1.8.1*12(0008012.001*kWh)(24-03-01 00:00)",
    "1-0:1.6.0(02.345*kW)(24-03-12 18:15)",
    "1-0:32.7.0(231.2*V)1-0:52.7.0(230.8*V)1-0:72.7.0(229.9*V)",
    "1-0:31.7.0(001.23*A)",
    "1-0:14.7.0(50.01*Hz)",
    "1-0:16.7.0(-0.512*kW)",
]
EMH_OBJECTS = [
    ("F.F", [("00000000", None)]),
    ("0.0.0", [("12345678", None)]),
    ("C.1.0", [("06123456", None)]),
    ("0.9.1", [("134512", None)]),
    ("0.9.2", [("240315", None)]),
    ("1-0:1.8.0*255", [("0012345.678", "kWh")]),
    ("1-0:1.8.1*255", [("0008345.123", "kWh")]),
    ("1-0:1.8.2*255", [("0004000.555", "kWh")]),
    ("1-0:2.8.0*255", [("0000000.000", "kWh")]),
    ("1-0:1.8.1*12", [("0008012.001", "kWh"), ("24-03-01 00:00", None)]),
    ("1-0:1.6.0", [("02.345", "kW"), ("24-03-12 18:15", None)]),
    ("1-0:32.7.0", [("231.2", "V")]),
    ("1-0:52.7.0", [("230.8", "V")]),
    ("1-0:72.7.0", [("229.9", "V")]),
    ("1-0:31.7.0", [("001.23", "A")]),
    ("1-0:14.7.0", [("50.01", "Hz")]),
    ("1-0:16.7.0", [("-0.512", "kW")]),
]
EMH_READOUT = _readout("/EMH5\\2LZQJC0014E", EMH_LINES, request=b"/?12345678!\r\n")


def test_handwritten_emh_mode_c_readout_with_address():
    for size in (1, 5, len(EMH_READOUT)):
        d = _decoded(EMH_READOUT, size)
        assert d["identification"] == {"manufacturer": "EMH", "baud_char": "5", "baud": 9600,
                                       "mode": "C or E", "enhanced": ["2"], "text": "LZQJC0014E"}
        assert d["address"] == "12345678" and d["message"] == "readout"
        assert d["bcc_ok"] is True and d["error"] is None
        assert _pairs(d) == EMH_OBJECTS


def test_handwritten_landis_gyr_readout_with_billing_ids():
    lines = [
        "F.F(00)",
        "0.0(          1234)",
        "1.8.1(015432.12*kWh)",
        "1.8.1&04(014001.20*kWh)",
        "1.8.2&04(003001.00*kWh)",
        "1.6.1(0.123*kW)(2403121815)",
        "0.1.0(04)",
        "0.1.2&04(24-03-01 00:00)",
        "C.7.0(0003)",
        "C.2.1()",
    ]
    data = _readout("/LGZ4ZMD3104407.B32", lines)
    d = _decoded(data, 3)
    assert d["identification"]["mode"] == "C" and d["identification"]["baud"] == 4800
    assert _pairs(d) == [
        ("F.F", [("00", None)]),
        ("0.0", [("          1234", None)]),
        ("1.8.1", [("015432.12", "kWh")]),
        ("1.8.1&04", [("014001.20", "kWh")]),
        ("1.8.2&04", [("003001.00", "kWh")]),
        ("1.6.1", [("0.123", "kW"), ("2403121815", None)]),
        ("0.1.0", [("04", None)]),
        ("0.1.2&04", [("24-03-01 00:00", None)]),
        ("C.7.0", [("0003", None)]),
        ("C.2.1", [("", None)]),
    ]
    assert d["bcc_ok"] is True
    broken = bytearray(data)
    broken[data.index(b"015432") + 3] ^= 0x01           # "4" -> "5": the BCC must catch it
    d = _decoded(bytes(broken))
    assert d["bcc_ok"] is False and d["error"] == "bcc"
    assert d["objects"][2]["values"][0]["value"] == "015532.12"   # still listed


def test_handwritten_dsmr5_belgian_telegram_with_crc():
    lines = [
        "0-0:96.1.4(50217)",
        "0-0:96.1.1(3153414733313031303231363035)",
        "0-0:1.0.0(230512135409S)",
        "1-0:1.8.1(000931.034*kWh)",
        "1-0:2.8.2(000015.011*kWh)",
        "1-0:1.4.0(02.351*kW)",
        "1-0:1.6.0(230509134558S)(02.589*kW)",
        "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(230401000000S)(230323192538W)(03.695*kW)"
        "(230501000000S)(230418071500S)(4321*W)",
        "0-0:96.14.0(0001)",
        "1-0:32.7.0(234.7*V)",
        "1-0:31.7.0(000.00*A)",
        "0-1:24.2.3(230512134558S)(00112.384*m3)",
    ]
    data = _telegram("/FLU5\\253769484_A", lines)
    d = _decoded(data, 2)
    assert d["identification"]["mode"] == "D"
    assert d["bcc_ok"] is True and d["error"] is None
    peaks = d["objects"][7]
    assert peaks["obis"] == "0-0:98.1.0" and len(peaks["values"]) == 9
    assert peaks["values"][-1] == {"value": "4321", "unit": "W", "number": 4321}
    assert _pairs(d)[-1] == ("0-1:24.2.3", [("230512134558S", None), ("00112.384", "m3")])
    lower = data.replace(data[-6:-2], data[-6:-2].lower())
    assert _decoded(lower)["bcc_ok"] is True                     # hex either case
    flipped = data.replace(b"234.7", b"235.7")
    assert _decoded(flipped)["error"] == "crc"


def test_handwritten_mode_a_heat_meter_readout():
    lines = [
        "0.0(00012345)",
        "6.8(0012.345*MWh)6.26(00456.78*m3)6.31(0023456*h)",
        "9.4(065.3*C&042.1*C)",
        "6.6(0012.5*kW)(23-11-02&14:00)",
        "9.36(2024-03-15&10:20:30)",
        "9.5(1*A&2)",
        "F(0)",
    ]
    d = _decoded(_readout("/SON@SUPERCAL531", lines), 7)
    assert d["identification"]["mode"] == "A" and d["identification"]["baud"] == 300
    assert _pairs(d) == [
        ("0.0", [("00012345", None)]),
        ("6.8", [("0012.345", "MWh")]),
        ("6.26", [("00456.78", "m3")]),
        ("6.31", [("0023456", "h")]),
        ("9.4", [("065.3", "C"), ("042.1", "C")]),
        ("6.6", [("0012.5", "kW"), ("23-11-02&14:00", None)]),
        ("9.36", [("2024-03-15&10:20:30", None)]),
        ("9.5", [("1", "A&2")]),            # not every part has a unit: one value
        ("F", [("0", None)]),
    ]


def test_handwritten_mode_d_push_with_signs_and_odd_units():
    lines = [
        "1-0:96.1.0*255(001LOG0064800144)",
        "1-0:1.8.0*255(002233.4455*kWh)",
        "1-0:16.7.0*255(-000345*W)",
        "1-0:81.7.4*255(-002*deg)",
        "1-0:0.2.0*255(ver.03,432F,20170504)",
        "1-0:96.90.2*255(0F66)",
    ]
    data = _telegram("/LOG5LK13BE803039", lines, crc=False)
    d = _decoded(b"\x00\x00" + data + data, 1)
    assert d["identification"]["mode"] == "D" and d["bcc_ok"] is None and d["error"] is None
    assert _pairs(d) == [
        ("1-0:96.1.0*255", [("001LOG0064800144", None)]),
        ("1-0:1.8.0*255", [("002233.4455", "kWh")]),
        ("1-0:16.7.0*255", [("-000345", "W")]),
        ("1-0:81.7.4*255", [("-002", "deg")]),
        ("1-0:0.2.0*255", [("ver.03,432F,20170504", None)]),
        ("1-0:96.90.2*255", [("0F66", None)]),
    ]
    assert d["objects"][2]["values"][0]["number"] == -345


def test_handwritten_dsmr22_gas_on_a_continuation_line():
    lines = [
        "0-0:96.1.1(4B384547303034303436333935353037)",
        "1-0:1.8.1(00185.000*kWh)",
        "0-1:24.3.0(230101120000)(08)(60)(1)(0-1:24.2.1)(m3)",
        "(00042.123)",
        "0-0:96.13.0()",
    ]
    d = _decoded(_telegram("/ISk5\\2MT382-1003", lines, crc=False), 3)
    assert d["identification"]["mode"] == "D"
    assert _pairs(d)[2] == ("0-1:24.3.0", [("230101120000", None), ("08", None), ("60", None), ("1", None),
                                           ("0-1:24.2.1", None), ("m3", None), ("00042.123", None)])
    assert _pairs(d)[3] == ("0-0:96.13.0", [("", None)])


def test_handwritten_programming_answers():
    block = b"1.8.0(0012345.678*kWh)\x03"
    d = _decoded(b"\x02" + block + bytes((_xor(block),)))
    assert _pairs(d) == [("1.8.0", [("0012345.678", "kWh")])] and d["bcc_ok"] is True
    block = b"(ERR05)\x03"
    d = _decoded(b"\x02" + block + bytes((_xor(block),)))
    assert _pairs(d) == [("", [("ERR05", None)])]


def test_an_8n1_read_of_a_7e1_line_is_masked():
    def parity(b):
        ones = 0
        for i in range(7):
            ones += (b >> i) & 1
        return b | 0x80 if ones & 1 else b
    seven = bytes(parity(b) for b in EMH_READOUT)
    assert seven != EMH_READOUT
    d = _decoded(seven, 4)
    assert d["bcc_ok"] is True and _pairs(d) == EMH_OBJECTS


# --- the reader's limits and recovery ---------------------------------------

def test_an_overlong_value_is_a_typed_error_and_the_reader_goes_on():
    long_value = "A" * (iec.IecReader.MAX_FIELD + 50)
    data = _telegram("/XYZ5TEST", ["1.8.0(%s)" % long_value, "2.8.0(0001.5*kWh)"])
    events, reader = _chunked(data, 64)
    kinds = [_describe(e)[0] for e in events]
    assert ("error", "too_long") in [_describe(e) for e in events]
    sets = [e for e in events if isinstance(e, iec.DataSet)]
    assert [(s.obis, s.values) for s in sets] == [("2.8.0", [("0001.5", "kWh")])]
    assert kinds[-1] == "end" and events[-1].ok is True
    assert len(reader._buf) == iec.IecReader.MAX_FIELD


def test_decode_keeps_a_dsmr_text_message_the_device_reader_drops():
    text = "3031" * 1024                                   # 2048 hex digits: DSMR 5's longest
    data = _telegram("/ISK5\\2M550T-1012", ["0-0:96.13.0(%s)" % text, "1-0:1.8.1(000156.167*kWh)"])
    d, code = iec_json.decode(data)
    assert code == 0 and d["objects"][0]["values"][0]["value"] == text
    events, _ = _chunked(data, 64)                         # the device's 512-byte field
    assert [_describe(e) for e in events if isinstance(e, FrameError)] == [("error", "too_long")]
    assert events[-1].ok is True


def test_an_overlong_id_loses_only_its_own_data_set():
    data = _telegram("/XYZ5TEST", ["9" * 600 + "(1)", "1.8.0(2)"], crc=False)
    d = _decoded(data, 7)                                   # the device's 512-byte field
    assert _pairs(d) == [("1.8.0", [("2", None)])] and d["error"] == "too_long"


def test_too_many_groups_are_dropped_with_one_error():
    groups = "".join("(%d)" % i for i in range(iec.IecReader.MAX_GROUPS + 5))
    events, _ = _chunked(_telegram("/XYZ5TEST", ["0-0:98.1.0" + groups, "1.8.0(1)"]), 9)
    assert [_describe(e)[1] for e in events if isinstance(e, FrameTooLong)] == ["too_long"]
    sets = [e for e in events if isinstance(e, iec.DataSet)]
    assert len(sets[0].values) == iec.IecReader.MAX_GROUPS and sets[1].obis == "1.8.0"


def test_a_cut_telegram_resyncs_at_the_next_slash():
    good = _telegram("/KFM5KAIFA-METER", ["1-0:1.8.1(000671.578*kWh)", "1-0:1.7.0(00.318*kW)"])
    events, _ = _chunked(good[:40] + good, 5)
    described = [_describe(e) for e in events]
    assert described.count(("error", "truncated")) == 1
    assert described[-1] == ("end", "crc", True, False)
    assert described[-3:-1] == [("set", "1-0:1.8.1", (("000671.578", "kWh"),)),
                                ("set", "1-0:1.7.0", (("00.318", "kW"),))]


def test_bytes_after_the_end_line_are_not_data():
    data = _telegram("/ESY5Q3DB1024 V3.04", ["1-0:1.8.0*255(00052185.78*kWh)"], crc=False)
    d = _decoded(data + b"  25803103\r\n" + b"\xff" * 33 + b"\r\n")
    assert _pairs(d) == [("1-0:1.8.0*255", [("00052185.78", "kWh")])] and d["error"] is None


def test_a_garbled_line_is_reported_and_the_block_goes_on():
    d = _decoded(_readout("/ABC5X", ["1.8.0(12", "2.8.0(3*kWh)", "bogus", "3.8.0)4(", "4.8.0(5)"]))
    assert _pairs(d) == [("2.8.0", [("3", "kWh")]), ("4.8.0", [("5", None)])]
    assert d["bcc_ok"] is True and d["error"] is None
    assert len([w for w in d["warnings"] if w.startswith("data_set")]) == 4


def test_finish_without_end_line_is_truncated_with_complete_lines_kept():
    reader = iec.IecReader()
    events = list(reader.feed(b"/ABC5X\r\n\x021.8.0(1)\r\n"))
    # 1.8.0's line is complete, but a "(" line could still add to it.
    assert [_describe(e) for e in events] == [("ident", "ABC", "5", (), "X")]
    events = list(reader.feed(b"2.8.0(2)2.8.1(3)"))
    assert [_describe(e) for e in events] == [("set", "1.8.0", (("1", None),))]
    tail = [_describe(e) for e in reader.finish()]
    assert tail == [("error", "truncated")]     # 2.8.0's line never ended
    assert reader.finish() == ()


def test_quiet_feeds_allocate_no_event_list():
    reader = iec.IecReader()
    assert reader.feed(b"") == ()
    assert reader.feed(b"\x00\x00/ABC") == ()


# --- the Ultraheat T550: blank lines where the identification goes ---------

def test_the_t550_readout_decodes_without_identification_however_chunked():
    v = next(v for v in vectors("iec_vectors.json") if v["id"] == "ultraheat-t550-vpathuis-stripped")
    data = wire(v)
    want = [(o["obis"], [(x["value"], x["unit"]) for x in o["values"]]) for o in v["objects"]]
    assert len(want) == 66 and data[:3] == b"\n\n6"
    for size in (1, 2, 3, 7, len(data)):
        d = _decoded(data, size)
        assert d["identification"] is None and d["message"] == "readout", size
        assert d["error"] is None and d["bcc_ok"] is None, size
        assert d["warnings"] == ["no_identification"], (size, d.get("warnings"))   # and no byte skipped
        assert _pairs(d) == want, size
    d, code = iec_json.decode(data)
    assert code == 0 and _pairs(d)[0] == ("6.8", [("0326.062", "MWh")])
    assert "identification: none, blank lines" in iec_json.to_text(d).splitlines()[0]


def test_only_two_blank_lines_where_an_identification_would_come_are_none():
    def tokens(data):
        return [e.token if isinstance(e, FrameError) else type(e).__name__ for e in _chunked(data, 3)[0]]
    ident = b"/LUGCUH50\r\n"
    # After our request's echo its own line end is no blank line: one more is one.
    assert tokens(b"/?!\r\n\r\n" + ident) == ["Request", "Identification"]
    assert tokens(b"/?!\r\n\r\n\r\n") == ["Request", "no_identification"]
    assert tokens(b"\r\n" + ident) == ["Identification"]
    assert tokens(b"\n\n") == ["no_identification"]
    assert tokens(b"\r\n \r\n" + ident) == ["Identification"]     # a space: not blank
    # The line end of a telegram's end line, then one blank line, then the next telegram.
    tele = _telegram("/KFM5KAIFA-METER", ["1-0:1.8.1(000671.578*kWh)"])
    assert tokens(tele + b"\r\n" + tele) == ["Identification", "DataSet", "End"] * 2
    # The data after the blank lines is read like a push's.
    events = _chunked(b"\r\n\r\n6.8(0326.062*MWh)\r\n!\r\n", 1)[0]
    assert [_describe(e) for e in events] == [("error", "no_identification"),
                                              ("set", "6.8", (("0326.062", "MWh"),)),
                                              ("end", None, None, False)]


# --- mode D listener ---------------------------------------------------------

def test_push_listener_gives_whole_telegrams():
    tele = _telegram("/KFM5KAIFA-METER", ["1-0:1.8.1(000671.578*kWh)", "1-0:1.7.0(00.318*kW)",
                                          "0-0:96.13.0()"])
    listener = p1.PushListener(keep=("1.8.1", "1.7.0"))
    got = []
    stream = tele[10:] + tele + tele.replace(b"00.318", b"00.319")
    for i in range(0, len(stream), 11):
        got.extend(listener.feed(stream[i:i + 11]))
    got.extend(listener.finish())
    assert [type(t).__name__ for t in got] == ["Telegram", "CrcMismatch"]
    first = got[0]
    assert first.identification.manufacturer == "KFM" and first.check == "crc" and first.check_ok
    assert [ds.obis for ds in first.objects] == ["1-0:1.8.1", "1-0:1.7.0"] and first.datasets == 3
    assert got[1].telegram.objects[1].values == [("00.319", "kW")]


def test_push_listener_reports_a_cut_telegram():
    tele = _telegram("/HAG5eHZ010C_EHZ1vA02", ["1-0:1.8.0*255(000001.2963)"], crc=False)
    listener = p1.PushListener()
    assert [t.check for t in listener.feed(tele)] == [None]
    assert listener.feed(tele[:-5]) == ()
    cut = listener.finish()
    assert [e.token for e in cut] == ["truncated"]
    assert cut[0].telegram.identification.text == "eHZ010C_EHZ1vA02"


