"""Home Assistant discovery (metereye.discovery), state payloads and the unit table (metereye.ha).

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py). Readings are
decoded from published Kamstrup frames (tests/vectors/kmp_vectors.json), so the unit
spellings here are the decoder's own. What Home Assistant accepts comes from
docs/homeassistant.md (HA 2025.4 fed such payloads).
"""

import gc
import json

from testvectors import vectors, wire

from metereye import discovery, ha, kmp
from metereye.errors import ConfigError
from metereye.meters.kamstrup import DIAGNOSTIC, TEXT, all_registers, register_info
from metereye.reading import Reading

_ROWS = {}


def classes(key):
    """What the firmware passes: (device_class, state_class, flags) from the KMP catalogue."""
    if not _ROWS:
        for row in all_registers():
            _ROWS[row[1]] = row[2:]
    return _ROWS.get(key)


def kmp_reading(meter_id, vector_ids, t=1700000000, seq=7):
    """A Reading built the way firmware/reader.py builds one, from published answer frames."""
    values, seen = [], set()
    for v in vectors("kmp_vectors.json"):
        if v["id"] not in vector_ids:
            continue
        frame = kmp.decode_frames(wire(v))[-1]
        if frame.cid == 0x02:   # GetSerialNo: the serial as register 1001 would carry it
            values.append(("serial_number", "%d" % kmp.decode_serial(frame.data), "number"))
            continue
        for reg in kmp.decode_registers(frame.data):
            key = register_info(reg.id)[1]
            if key in seen:     # the same register in two captures: the first one counts
                continue
            seen.add(key)
            display = reg.display
            values.append((key, display if display is not None else reg.value, reg.unit))
    assert values, vector_ids
    return Reading(meter_id, t, values, seq)


def mc21_reading(**kw):
    return kmp_reading("multical21_75749993", ("water-7reg-resp-gg", "water-serial-resp-gg"), **kw)


def mc403_reading():
    return kmp_reading("multical403_67012345", (
        "mc403-5reg-resp-stuffed-tasmota38", "mc403-volume-resp-tasmota38",
        "mc403-power-resp-tasmota38", "mc403-3reg-resp-a-tasmota38"))


READER = {"reader_id": "metereye-1a2b3c", "address": "192.168.1.50", "sw_version": "0.1.0"}
MC21 = {"meter_id": "multical21_75749993", "manufacturer": "Kamstrup", "model": "Multical 21",
        "serial": 75749993}
MC403 = {"meter_id": "multical403_67012345", "manufacturer": "Kamstrup", "model": "Multical 403",
         "serial": "67012345"}


def configs(meter_info, reading, catalogue=classes):
    """{unique id: (topic, parsed config, payload text)} of one discovery run."""
    gc.collect()        # under MicroPython's bounded heap: the earlier tests' garbage out first
    out = {}
    for topic, payload in discovery.discovery("homeassistant", "metereye", READER["reader_id"], READER,
                                       meter_info, reading, catalogue):
        config = json.loads(payload)
        assert config["unique_id"] not in out, config["unique_id"]
        out[config["unique_id"]] = (topic, config, payload)
    return out


def entity(found, meter_info, key):
    return found["%s_%s_%s" % (READER["reader_id"], meter_info["meter_id"], key)][1]


# --- the unit table (docs/decisions.md §18) -----------------------------------------------

# Every row of ha's table: meter unit -> (value in, value out, HA unit).
CONVERTED = {
    "l/h": ("420", "0.420", "m\u00b3/h"),
    "l": ("1250", "1250", "L"),
    "m3": ("831.403", "831.403", "m\u00b3"),
    "m3ph": ("1.25", "1.25", "m\u00b3/h"),
    "m3/h": ("0.6", "0.6", "m\u00b3/h"),
    "C": ("53.65", "53.65", "\u00b0C"),
    "days": ("5152", "5152", "d"),
    "minutes": ("15", "15", "min"),
    "m\u00b3 x10": ("12.34", "123.4", "m\u00b3"),
    "GJ x10": ("7", "70", "GJ"),
    "ton x10": ("0.05", "0.5", "ton"),
    "number": ("54888", "54888", None),
    "ASCII": ("12", "12", None),
    "Bitfield": ("3", "3", None),
}

PASSED = ("m\u00b3", "m\u00b3/h", "kWh", "MWh", "GJ", "\u00b0C", "K", "kW", "W", "h", "V", "A", "Hz",
          "dBm", "L/min", "m\u00b3\u00b7\u00b0C")


def test_every_unit_table_row_converts_as_answers_18_says():
    for unit, (given, want, want_unit) in CONVERTED.items():
        assert ha.ha_value(given, unit) == (want, want_unit), unit


def test_the_test_covers_every_row_of_the_table():
    rows = [line.split("|")[0] for line in ha._UNITS.split("\n") if line]
    assert sorted(rows) == sorted(CONVERTED), rows


def test_units_home_assistant_takes_pass_unchanged():
    for unit in PASSED:
        assert ha.ha_value("12.5", unit) == ("12.5", unit), unit


def test_litres_per_hour_shift_exactly():
    assert ha.ha_value("420", "l/h") == ("0.420", "m\u00b3/h")
    assert ha.ha_value("5", "l/h") == ("0.005", "m\u00b3/h")
    assert ha.ha_value("0", "l/h") == ("0.000", "m\u00b3/h")
    assert ha.ha_value("-12", "l/h") == ("-0.012", "m\u00b3/h")
    assert ha.ha_value("0.1", "l/h") == ("0.0001", "m\u00b3/h")
    assert ha.ha_value("123456789012345678901", "l/h")[0] == "123456789012345678.901"


def test_no_unit_means_no_unit():
    assert ha.ha_value("3", None) == ("3", None)
    assert ha.ha_value("3", "") == ("3", None)


def test_values_are_made_valid_json_numbers_without_losing_digits():
    assert ha.ha_value("0012.50", "kWh") == ("12.50", "kWh")
    assert ha.ha_value("+5", "kWh") == ("5", "kWh")
    assert ha.ha_value("1959120400000000000000000", "kW")[0] == "1959120400000000000000000"
    # not a decimal: returned as it is, even with a shifting unit
    assert ha.ha_value("22:01:12", "yy:mm:dd") == ("22:01:12", "yy:mm:dd")
    assert ha.ha_value("", "l/h") == ("", "m\u00b3/h")


def test_units_outside_their_device_class_are_caught():
    assert discovery.unit_fits("water", "m\u00b3")
    assert not discovery.unit_fits("water", "m3")               # HA logs it as invalid
    assert discovery.unit_fits("volume_flow_rate", "m\u00b3/h")
    assert not discovery.unit_fits("volume_flow_rate", "L/h")   # refused by HA 2025.4
    assert discovery.unit_fits("energy", "GJ") and discovery.unit_fits("energy", "MWh") and discovery.unit_fits("energy", "kWh")
    assert not discovery.unit_fits("energy", "kCal")
    assert discovery.unit_fits("temperature", "\u00b0C")
    assert not discovery.unit_fits("temperature", "K")          # a difference, not a temperature
    assert not discovery.unit_fits("duration", None)
    assert discovery.unit_fits(None, "anything")
    assert discovery.unit_fits("some_new_class", "x")


# --- topics and ids ----------------------------------------------------------------

def test_topic_layout():
    assert ha.status_topic("metereye", "r1") == "metereye/r1/status"
    assert ha.reader_diag_topic("metereye", "r1") == "metereye/r1/diag"
    assert ha.state_topic("metereye", "r1", "m_1") == "metereye/r1/m_1/state"
    assert ha.meter_diag_topic("metereye", "r1", "m_1") == "metereye/r1/m_1/diag"
    assert ha.discovery_topic("homeassistant", "r1_m_1_volume") == "homeassistant/sensor/r1_m_1_volume/config"
    assert ha.ha_status_topic("homeassistant") == "homeassistant/status"


def test_ids_unsafe_in_topics_or_entity_ids_are_refused():
    reading = mc21_reading()
    for bad in ("", "a/b", "a+b", "a#", "a b", "caf\u00e9", "x" * 65):
        assert not discovery.valid_id(bad), bad
        try:
            list(discovery.meter_discovery("homeassistant", "metereye", "r1", {"meter_id": bad}, reading, classes))
        except ConfigError:
            pass
        else:
            raise AssertionError(bad)
        try:
            list(discovery.reader_discovery("homeassistant", "metereye", bad, READER))
        except ConfigError:
            pass
        else:
            raise AssertionError(bad)
    assert discovery.valid_id("metereye-1a2b3c") and discovery.valid_id("multical21_75749993")


# --- discovery -------------------------------------------------------------------

def _common(config, meter_info, reading_topic):
    assert config["state_topic"] == reading_topic
    assert config["availability_topic"] == "metereye/metereye-1a2b3c/status"
    assert config["payload_available"] == "online" and config["payload_not_available"] == "offline"
    assert config["object_id"] == config["unique_id"]
    device = config["device"]
    if meter_info is None:
        assert device["identifiers"] == ["metereye_metereye-1a2b3c"]
        assert device["configuration_url"] == "http://192.168.1.50/"
        assert device["sw_version"] == "0.1.0"
        assert device["manufacturer"] == "metereye" and device["name"] and device["model"]
    else:
        assert device["identifiers"] == ["metereye_" + meter_info["meter_id"]]
        assert device["manufacturer"] == "Kamstrup"
        assert device["model"] == meter_info["model"]
        assert device["serial_number"] == str(meter_info["serial"])
        assert device["name"] == meter_info["model"] + " " + str(meter_info["serial"])
        assert device["via_device"] == "metereye_metereye-1a2b3c"


def _measured(config, key, unit, device_class, state_class):
    assert config["value_template"] == "{{ value_json.%s }}" % key
    assert config.get("unit_of_measurement") == unit, (key, config)
    assert config.get("device_class") == device_class, (key, config)
    assert config.get("state_class") == state_class, (key, config)


def test_multical21_discovery_is_what_home_assistant_accepts():
    reading = mc21_reading()
    found = configs(MC21, reading)
    assert len(found) == len(reading.values) + 4 + 5
    state = "metereye/metereye-1a2b3c/multical21_75749993/state"
    diag = "metereye/metereye-1a2b3c/multical21_75749993/diag"
    for uid, (topic, config, _) in found.items():
        assert topic == "homeassistant/sensor/%s/config" % uid
        assert config["name"]
    for key, _, _ in reading.values:
        _common(entity(found, MC21, key), MC21, state)
    # docs/homeassistant.md: water m³ total_increasing lands in the Energy dashboard
    _measured(entity(found, MC21, "volume"), "volume", "m\u00b3", "water", "total_increasing")
    _measured(entity(found, MC21, "volume_reverse"), "volume_reverse", "m\u00b3", "water", "total_increasing")
    _measured(entity(found, MC21, "flow"), "flow", "m\u00b3/h", "volume_flow_rate", "measurement")
    _measured(entity(found, MC21, "temp_water"), "temp_water", "\u00b0C", "temperature", "measurement")
    _measured(entity(found, MC21, "temp_ambient"), "temp_ambient", "\u00b0C", "temperature", "measurement")
    # the info register: a number, diagnostic, no unit
    info = entity(found, MC21, "info")
    _measured(info, "info", None, None, None)
    assert info["entity_category"] == "diagnostic"
    # unit 51 (number) on this meter: no unit, so no duration class; still a counter
    hours = entity(found, MC21, "hour_counter")
    _measured(hours, "hour_counter", None, None, "total_increasing")
    assert hours["entity_category"] == "diagnostic"
    serial = entity(found, MC21, "serial_number")
    _measured(serial, "serial_number", None, None, None)
    assert serial["entity_category"] == "diagnostic"
    for key in ("volume", "flow", "temp_water"):
        assert "entity_category" not in entity(found, MC21, key)
    # the meter's diagnostics
    for suffix in ("meter_state", "sessions_today", "errors", "info_flags"):
        config = entity(found, MC21, suffix)
        _common(config, MC21, diag)
        assert config["entity_category"] == "diagnostic"
        assert "unit_of_measurement" not in config and "state_class" not in config
    assert entity(found, MC21, "meter_state")["value_template"] == "{{ value_json.state }}"
    # the reader's
    rssi = found["metereye-1a2b3c_rssi"][1]
    _common(rssi, None, "metereye/metereye-1a2b3c/diag")
    _measured(rssi, "rssi", "dBm", "signal_strength", "measurement")
    assert rssi["entity_category"] == "diagnostic"
    for key in ("free_heap", "uptime", "queued", "dropped"):
        config = found["metereye-1a2b3c_" + key][1]
        _common(config, None, "metereye/metereye-1a2b3c/diag")
        assert config["entity_category"] == "diagnostic"
        assert config["value_template"] == "{{ value_json.%s }}" % key
    _measured(found["metereye-1a2b3c_free_heap"][1], "free_heap", "B", "data_size", "measurement")
    _measured(found["metereye-1a2b3c_uptime"][1], "uptime", "s", "duration", None)


def test_multical403_discovery_is_what_home_assistant_accepts():
    reading = mc403_reading()
    found = configs(MC403, reading)
    state = "metereye/metereye-1a2b3c/multical403_67012345/state"
    for key, _, _ in reading.values:
        _common(entity(found, MC403, key), MC403, state)
    _measured(entity(found, MC403, "heat_energy"), "heat_energy", "MWh", "energy", "total_increasing")
    _measured(entity(found, MC403, "volume"), "volume", "m\u00b3", "water", "total_increasing")
    _measured(entity(found, MC403, "power"), "power", "kW", "power", "measurement")
    _measured(entity(found, MC403, "temp_forward"), "temp_forward", "\u00b0C", "temperature", "measurement")
    _measured(entity(found, MC403, "temp_return"), "temp_return", "\u00b0C", "temperature", "measurement")
    # t1 - t2 in K: HA would show 40.34 K as -232.81 °C, so no temperature class
    _measured(entity(found, MC403, "temp_diff"), "temp_diff", "K", None, "measurement")
    _measured(entity(found, MC403, "flow"), "flow", "m\u00b3/h", "volume_flow_rate", "measurement")
    # a date register: text, no unit or class
    _measured(entity(found, MC403, "max_flow_date_year"), "max_flow_date_year", None, None, None)


def test_heat_energy_in_gj_or_kwh_keeps_its_class():
    for unit in ("GJ", "kWh", "GJ x10"):
        reading = Reading("multical403_1", 1, [("heat_energy", "12.3", unit)])
        config = entity(configs(dict(MC403, meter_id="multical403_1"), reading),
                        {"meter_id": "multical403_1"}, "heat_energy")
        _measured(config, "heat_energy", unit.split(" ")[0], "energy", "total_increasing")


def test_a_unit_outside_its_class_drops_the_class_not_the_entity():
    reading = Reading("m_1", 1, [("heat_energy", "12.3", "kCal")])
    config = entity(configs(dict(MC403, meter_id="m_1"), reading), {"meter_id": "m_1"}, "heat_energy")
    _measured(config, "heat_energy", "kCal", None, "total_increasing")


def test_catalogue_flags_decide_text_and_diagnostic():
    def flagged(key):
        return {"a": ("energy", "total_increasing", TEXT), "b": ("water", "total_increasing", DIAGNOSTIC)}[key]

    reading = Reading("m_1", 1, [("a", "12", "kWh"), ("b", "3.5", "m\u00b3")])
    found = configs(dict(MC21, meter_id="m_1"), reading, flagged)
    a = entity(found, {"meter_id": "m_1"}, "a")
    _measured(a, "a", None, None, None)
    assert "entity_category" not in a
    b = entity(found, {"meter_id": "m_1"}, "b")
    _measured(b, "b", "m\u00b3", "water", "total_increasing")
    assert b["entity_category"] == "diagnostic"


def test_unique_ids_and_configs_do_not_change_with_the_values():
    first = configs(MC21, mc21_reading())
    changed = Reading(MC21["meter_id"], 1800000000,
                      [(k, "1" if v != "0" else "2", u) for k, v, u in mc21_reading().values], 99)
    second = configs(MC21, changed)
    assert sorted(first) == sorted(second)
    for uid in first:
        assert first[uid][0] == second[uid][0] and first[uid][2] == second[uid][2], uid
    for uid in first:
        if not uid.startswith("metereye-1a2b3c_multical21_"):
            assert uid.split("_")[1] in ("rssi", "free", "uptime", "queued", "dropped"), uid
    # another meter (another serial): other ids, the reader's stay
    other = configs(dict(MC21, meter_id="multical21_1234", serial=1234), mc21_reading())
    meter_ids = [u for u in first if "multical21_75749993" in u]
    assert meter_ids and not [u for u in meter_ids if u in other]
    assert "metereye-1a2b3c_rssi" in other


def test_meter_diagnostic_ids_never_collide_with_a_register_key():
    keys = [row[1] for row in all_registers()]
    for suffix, _, _ in discovery._METER_DIAG:
        assert suffix not in keys, suffix


def test_every_payload_is_ascii_json():
    for found in (configs(MC21, mc21_reading()), configs(MC403, mc403_reading())):
        for _, config, payload in found.values():
            for ch in payload:
                assert ord(ch) < 0x7F, payload
    config = entity(configs(MC21, mc21_reading()), MC21, "volume")
    assert config["unit_of_measurement"] == "m\u00b3"


def test_names_and_manufacturers_are_escaped():
    meter = {"meter_id": "m_1", "manufacturer": 'A "quoted" \\ name', "model": "Mod\u00e8le\n2",
             "serial": "x"}
    reader = {"reader_id": "r1", "name": "Caf\u00e9 reader", "address": "10.0.0.1"}
    for _, payload in discovery.discovery("homeassistant", "metereye", "r1", reader, meter,
                                   Reading("m_1", 1, [("volume", "1", "m\u00b3")]), classes):
        config = json.loads(payload)
        assert config["device"]["manufacturer"] in ('A "quoted" \\ name', "metereye")
        assert config["device"].get("model") in ("Mod\u00e8le\n2", "metereye reader")


def test_a_meter_without_a_known_serial_has_no_serial_number():
    found = configs({"meter_id": "multical21_0", "manufacturer": "Kamstrup", "model": "Multical 21"},
                    Reading("multical21_0", 1, [("volume", "1", "m\u00b3")]))
    device = entity(found, {"meter_id": "multical21_0"}, "volume")["device"]
    assert "serial_number" not in device and device["name"] == "Multical 21"


def test_the_reader_alone_and_one_meter_alone_add_up_to_discovery():
    reading = mc21_reading()
    both = list(discovery.discovery("homeassistant", "metereye", "metereye-1a2b3c", READER, MC21, reading, classes))
    parts = list(discovery.meter_discovery("homeassistant", "metereye", "metereye-1a2b3c", MC21, reading, classes))
    parts += list(discovery.reader_discovery("homeassistant", "metereye", "metereye-1a2b3c", READER))
    assert both == parts


# --- state and diagnostics payloads ---------------------------------------------

def test_state_payload_keeps_the_meters_digits():
    text = ha.state_payload(mc21_reading(), classes)
    assert text.startswith('{"t":1700000000,"seq":7,')
    assert '"volume":831.403,' in text
    assert '"volume_reverse":0.000,' in text
    assert '"flow":0.000,' in text           # 0 l/h, as m³/h
    assert '"temp_water":20,' in text
    assert '"serial_number":"75749993"' in text   # TEXT: a string
    state = json.loads(text)
    assert state["hour_counter"] == 54888 and state["info"] == 0
    assert set(state) == set(["t", "seq"] + [k for k, _, _ in mc21_reading().values])


def test_state_payload_of_a_heat_meter():
    text = ha.state_payload(mc403_reading(), classes)
    assert '"heat_energy":55.648,' in text
    assert '"temp_diff":40.34,' in text
    assert '"flow":0.006,' in text          # 6 l/h
    assert '"power":0.0,' in text
    assert '"max_flow_date_year":"22:01:12"' in text
    json.loads(text)


def test_state_payload_without_a_clock_or_catalogue():
    reading = Reading("m_1", None, [("volume", "1.5", "m3"), ("note", 'say "hi"', None), ("x", "007", None)])
    text = ha.state_payload(reading)
    assert text == '{"t":null,"seq":0,"volume":1.5,"note":"say \\"hi\\"","x":7}'
    assert json.loads(text)["note"] == 'say "hi"'


def test_state_payload_leaves_out_refused_keys():
    text = ha.state_payload(mc21_reading(), classes, skip=("volume",))
    assert '"volume"' not in text and '"volume_reverse"' in text
    json.loads(text)


def test_diagnostics_payloads():
    text = ha.meter_diag_payload("lockout", 3, 48, 2, ["dry", "leak"], 1700000000)
    assert json.loads(text) == {"state": "lockout", "sessions_today": 3, "budget": 48, "errors": 2,
                                "info_flags": "dry,leak", "last_read": 1700000000}
    assert json.loads(ha.meter_diag_payload("waiting", 0, 48, 0))["last_read"] is None
    assert json.loads(ha.meter_diag_payload("ok", 0, 48, 0, ""))["info_flags"] == ""
    try:
        ha.meter_diag_payload("locked", 0, 48, 0)
    except ValueError:
        pass
    else:
        raise AssertionError("unknown state accepted")
    assert json.loads(ha.reader_diag_payload(None, 81234, 3600, 5, 1)) == {
        "rssi": None, "free_heap": 81234, "uptime": 3600, "queued": 5, "dropped": 1}
    assert json.loads(ha.reader_diag_payload(-67, 1, 2, 3, 4))["rssi"] == -67


def test_the_reader_diagnostics_carry_each_targets_state():
    targets = [("mqtt", {"connected": True, "queued": 0, "sent": 12, "refused": 0, "last_seq": 40,
                         "error": None}),
               ("http", {"connected": False, "queued": 3, "sent": 9, "refused": 1, "last_seq": 37,
                         "error": "the server answered HTTP 503"})]
    diag = json.loads(ha.reader_diag_payload(None, 81234, 3600, 3, 0, targets))
    assert diag["queued"] == 3 and diag["targets"]["mqtt"] == dict(targets[0][1])
    assert diag["targets"]["http"]["error"] == "the server answered HTTP 503"
    assert "targets" not in json.loads(ha.reader_diag_payload(None, 1, 2, 3, 4))
