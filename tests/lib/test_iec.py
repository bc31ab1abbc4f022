"""IEC 62056-21 / P1 reader, builders and decoder against the published vectors
(tests/vectors/iec_vectors.json); builders, the write guard and the OBIS catalogue.

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py).
"""

from iechelp import (describe as _describe, xor as _xor, readout as _readout, chunked as _chunked, decoded as _decoded)

import gc

from testvectors import vectors, wire

from metereye import iec, iec_json, obis
from metereye.errors import WriteRefused


def _objects(d):
    """The decode dict's objects without "number", as the vectors write them."""
    return [{"obis": o["obis"], "values": [{"value": v["value"], "unit": v["unit"]} for v in o["values"]]}
            for o in d["objects"]]


# --- the vectors ------------------------------------------------------------

def _check_vector(v, d):
    want_ident = v["expected_ident"]
    got = d["identification"]
    if got is not None:
        got = dict(got)
        got["identification"] = got.pop("text")   # the vectors' name for our text
    assert got == want_ident, (v["id"], got)
    assert d["bcc_ok"] == v["bcc_ok"], (v["id"], d["bcc_ok"])
    assert d["error"] == v["error"], (v["id"], d["error"])
    assert _objects(d) == v["objects"], v["id"]


def test_every_vector_decodes_to_what_it_records():
    count = 0
    for v in vectors("iec_vectors.json"):
        _check_vector(v, _decoded(wire(v)))
        count += 1
        v = None
        gc.collect()        # a 256K MicroPython heap holds one vector at a time
    assert count >= 50


def test_every_vector_decodes_the_same_whatever_the_chunking():
    for v in vectors("iec_vectors.json"):
        data = wire(v)
        whole = [_describe(e) for e in _chunked(data, len(data) or 1)[0]]
        for size in (1, 2, 3, 7):
            events, reader = _chunked(data, size)
            assert [_describe(e) for e in events] == whole, (v["id"], size)
            _check_vector(v, iec_json.decode_events(events, reader.skipped)[0])
            events = None
            gc.collect()
        v = whole = None
        gc.collect()


def test_exit_codes_follow_the_error():
    codes = {}
    for v in vectors("iec_vectors.json"):
        codes[v["id"]] = iec_json.decode(wire(v))[1]
    assert codes["dsmr42-kaifa-ma105"] == 0
    assert codes["pwitab-request-with-address"] == 0
    assert codes["pwitab-ack-programming"] == 0
    assert codes["pwitab-r1-read"] == 0
    assert codes["neg-uh50-bad-bcc"] == 1
    assert codes["neg-dsmr42-bad-crc"] == 1
    assert codes["neg-uh50-truncated"] == 1
    assert codes["emh-sml-vzlogger"] == 2
    assert iec_json.decode(b"\x00\x01 nothing here \xff")[1] == 2
    assert iec_json.decode(b"")[1] == 2


def test_messages_name_their_kind_and_fields():
    by_id = {}
    for v in vectors("iec_vectors.json"):
        if v["kind"] in ("ack", "exchange", "identification"):
            d = _decoded(wire(v))
            d["objects"] = None
            by_id[v["id"]] = d
        v = None
        gc.collect()
    d = by_id["pwitab-request-with-address"]
    assert d["message"] == "request" and d["address"] == "45678903"
    d = by_id["pwitab-ack-programming"]
    assert d["message"] == "ack" and (d["v"], d["z"], d["y"]) == ("0", "5", "1")
    d = by_id["pwitab-r1-read"]
    assert d["message"] == "command" and d["command"] == "R1" and d["bcc_ok"] is True
    d = by_id["elster-lis200-w2-pwitab"]
    assert d["command"] == "W2"
    assert by_id["pwitab-b0-break"]["command"] == "B0"
    d = by_id["itron-ace3000-vzlogger-exchange"]
    assert d["message"] == "readout" and d["address"] == ""
    assert by_id["elster-ek280-ident-pwitab"]["message"] == "identification"
    d = iec_json.decode(b"\x15")[0]
    assert d["message"] == "nak"


def test_sml_is_named_not_iec():
    d, code = iec_json.decode(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01\x76\x05\x2f\x2f\x1b\x1b\x1b\x1b\x1a\x00\x12\x34")
    assert d["error"] == "not_iec" and code == 2
    assert "SML" in d["detail"]


def test_numbers_only_for_plain_decimals():
    d = _decoded(_readout("/ABC5X", ["1(00012345.678*kWh)", "2(+00026*W)", "3(-000073.69*W)", "4( 20000)",
                                     "5(07D0)", "6(2022-05-19&19:41:17)", "7(1.)", "8()", "9(.5)"]))
    got = [o["values"][0].get("number") for o in d["objects"]]
    assert got == [12345.678, 26, -73.69, 20000, None, None, None, None, None]
    assert isinstance(got[1], int) and isinstance(got[0], float)


# --- identification, builders, guard ----------------------------------------

def test_identification_fields_by_the_rules():
    ident = iec.parse_identification("Els6\\2EK280")
    assert (ident.manufacturer, ident.baud_char, ident.enhanced, ident.text) == ("Els", "6", ["2"], "EK280")
    assert ident.mode == "C or E" and ident.baud == 19200 and ident.reaction_ms == 20
    ident = iec.parse_identification("LUGCUH50")
    assert ident.mode == "B" and ident.baud == 2400 and ident.reaction_ms == 200
    ident = iec.parse_identification("KAM MC")
    assert ident.mode == "A" and ident.baud == 300 and ident.text == "MC"
    assert iec.parse_identification("ABC8X").baud is None           # reserved
    assert iec.parse_identification("ABCGX").baud is None
    ident = iec.parse_identification("ISk5\\2\\MMT382")
    assert ident.enhanced == ["2", "M"] and ident.text == "MT382"
    assert iec.parse_identification("AB") is None
    assert iec.parse_identification("?!1234") is None


def test_request_and_ack_bytes():
    assert iec.request() == b"/?!\r\n"
    assert iec.request("45678903") == b"/?45678903!\r\n"
    assert iec.ack("5", "1") == b"\x06051\r\n"
    assert iec.ack() == b"\x06000\r\n"
    for bad in ("a!b", "x" * 33):
        try:
            iec.request(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_proposed_speed_is_the_offer_capped_by_our_head():
    assert iec.baud_char_for("5", 9600) == "5"
    assert iec.baud_char_for("6", 9600) == "5"
    assert iec.baud_char_for("6", 2400) == "3"
    assert iec.baud_char_for("0", 19200) == "0"
    assert iec.baud_char_for("8", 19200) == "0"          # reserved: stay at 300
    assert iec.mode_c_baud("4") == 4800


def test_commands_match_the_published_bytes():
    by_id = {}
    for v in vectors("iec_vectors.json"):
        by_id[v["id"]] = wire(v)
    assert iec.read_command("1.8.0", "1") == by_id["pwitab-r1-read"]
    assert iec.command("B0") == by_id["pwitab-b0-break"] == iec.BREAK
    assert iec.command("P0", b"(1234567)") == by_id["pwitab-p0-password"]
    assert iec.command("W2", b"C003(910324092239)", allow_write=True) == by_id["elster-lis200-w2-pwitab"]
    assert iec.read_command("C.1.0", cmd="R5")[:3] == b"\x01R5"


def test_write_and_execute_are_refused_unless_enabled():
    for cmd in ("W1", "W2", "W5", "E1", "E2"):
        try:
            iec.command(cmd, b"C003(1)")
        except WriteRefused:
            continue
        raise AssertionError(cmd)


def test_a_password_command_needs_a_password():
    for bad in (lambda: iec.command("P1"), lambda: iec.password_command("")):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("P without password built")
    frame = iec.password_command("secret")
    assert frame[:4] == b"\x01P1\x02" and frame[-2] == 0x03
    assert frame[-1] == _xor(frame[1:-1])


# --- OBIS catalogue ----------------------------------------------------------

def test_obis_ids_match_as_meters_write_them():
    assert obis.base("1-0:1.8.0*255") == "1.8.0"
    assert obis.base("1-0:21.7.255*255") == "21.7.0"
    assert obis.base("6.8*01") == "6.8"
    assert obis.base("1.8.1&12") == "1.8.1"
    assert obis.split("0-1:24.2.1") == ("0", "1", "24.2.1", None)
    assert obis.lookup("1-0:1.8.0*255")[2] == "energy_import"
    assert obis.lookup("1.8.0")[2] == "energy_import"
    assert obis.lookup("C.1")[2] == "serial"
    assert obis.lookup("0-1:24.2.1")[4] == "gas"
    assert obis.lookup("1-0:24.2.1") is None            # medium 1 has no gas register
    assert obis.lookup("1-0:32.7.0")[3:6] == ("V", "voltage", "measurement")
    assert obis.lookup("9.99.9") is None


def test_previous_period_values_keep_the_class_with_their_own_key():
    assert obis.lookup("6.8*01")[4:6] == obis.lookup("6.8")[4:6] == ("energy", "total_increasing")
    assert obis.keys("6.8", 1) == ["heat_energy"]
    assert obis.keys("6.8*01", 1) == ["heat_energy_01"]
    assert obis.keys("9.4*01", 2) == ["max_temp_flow_01", "max_temp_return_01"]
    assert obis.keys("0-1:24.2.1", 2) == [None, "gas_volume"]
    assert obis.keys("1-0:1.8.0*255", 1) == ["energy_import"]
    assert obis.keys("7.7.7", 1) == [None]
    assert obis.wanted("1-0:1.8.1*255", ("1.8.1",)) and not obis.wanted("1.8.2", ("1.8.1",))


def test_every_catalogue_row_is_well_formed():
    classes = (None, "energy", "reactive_energy", "power", "voltage", "current", "frequency",
               "power_factor", "timestamp", "gas", "water", "volume_flow_rate", "temperature", "duration")
    for row in obis.OBJECTS:
        head = row.split(" ")[0]
        assert len(row.split(" ")) == 6 and head[1] == ":", row
        got = obis.lookup(head[0] + "-0:" + head[2:])
        assert got is not None and got[1] == head[2:], row
        assert got[4] in classes and got[5] in (None, "measurement", "total_increasing"), row
        assert (got[5] is None) == (got[4] in (None, "timestamp")), row
        assert 0 <= got[6] <= 7, row
