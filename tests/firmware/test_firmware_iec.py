"""The reader firmware with IEC 62056-21 and P1 meters: unix MicroPython +
`metereye simulate` over a real pty + a real Mosquitto, checked from a real
MQTT subscriber. The expected values are the research readouts the simulator
serves, read here from the vectors file, not written down."""

import json
import os
import re
import sys
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from testvectors import vectors  # noqa: E402

from metereye import iec  # noqa: E402


def _objects(vector_id):
    """{obis: [(value, unit)]} of a research readout, parsed by the PC decoder."""
    data = next(bytes.fromhex(v["hex"]) for v in vectors("iec_vectors.json") if v["id"] == vector_id)
    return {ev.obis: ev.values for ev in iec.IecReader(4096).feed(data) if isinstance(ev, iec.DataSet)}


def _raw_states(rec):
    return [p for _, p in rec.where("/state")]


def _configs(rec):
    return {t: json.loads(p) for t, p in rec.where("/config")}


def test_mode_c_meter_energy_published_exactly_with_energy_classes(rig):
    want = _objects("lgz-zmd120ap-vzlogger-readout")
    r = rig(meter="iec-electricity", interval_s=3)
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: len(x.states()) >= 2 and x.where("_energy_import/config"),
                 timeout=60, what="two IEC readings and discovery")
    raw = _raw_states(rec)[0]
    # The meter wrote 001846.0 kWh: Home Assistant gets 1846.0, every digit after the point kept.
    for key, obis in (("energy_import", "1.8.0"), ("energy_export", "2.8.0"),
                      ("energy_import_t1", "1.8.1"), ("energy_export_t1", "2.8.1")):
        value, unit = want[obis][0]
        assert unit == "kWh"
        text = re.search(r'"%s":([^,}]+)' % key, raw).group(1)
        # Exact: the meter's digits without the leading zeros JSON forbids, no float.
        assert Decimal(text) == Decimal(value), (key, text, value)
        assert text == value.lstrip("0") if not value.startswith("0.") else text == value, (key, text)
    configs = _configs(rec)
    energy = next(c for t, c in configs.items() if t.endswith("_energy_import/config"))
    assert energy["device_class"] == "energy" and energy["state_class"] == "total_increasing"
    assert energy["unit_of_measurement"] == "kWh"
    assert energy["device"]["serial_number"] == want["0.0.0"][0][0].strip()
    error_reg = next(c for t, c in configs.items() if t.endswith("_error_register/config"))
    assert error_reg.get("entity_category") == "diagnostic" and "device_class" not in error_reg
    # The meter really was read at 9600 Bd after our ACK, never written to.
    log = [json.loads(line) for line in open(r.log)]
    acks = [c for c in log if c.get("command") == "ack"]
    assert acks and {c["z"] for c in acks} == {"5"}
    sends = [c for c in log if c.get("event") == "send" and c["message"] == "data"]
    assert sends and all(c["baud"] == 9600 and c["line_baud"] == 9600 for c in sends)
    commands = {c["command"] for c in log if "command" in c}
    assert commands <= {"request", "ack"}, commands


def test_a_pushing_p1_meter_is_heard_continuously(rig):
    want = _objects("dsmr50-iskra-mt382-1000")
    # DSMR 5 pushes every second at 115200 Bd: at real pace, as a P1 port does.
    r = rig(meter="dsmr-p1", interval_s=3, wake=False, sim_args=("--speed", "1"))
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: len(x.states()) >= 2 and x.where("_energy_import_t1/config"),
                 timeout=60, what="two P1 readings")
    state = json.loads(_raw_states(rec)[-1])
    assert Decimal(str(state["energy_import_t1"])) == Decimal(want["1-0:1.8.1"][0][0])
    assert Decimal(str(state["power_import"])) == Decimal(want["1-0:1.7.0"][0][0])
    configs = _configs(rec)
    t1 = next(c for t, c in configs.items() if t.endswith("_energy_import_t1/config"))
    assert t1["device_class"] == "energy" and t1["state_class"] == "total_increasing"
    gas = next(c for t, c in configs.items() if t.endswith("_gas_volume/config"))
    assert gas["device_class"] == "gas" and gas["unit_of_measurement"] == "m³"
    # The serial is the DSMR equipment id (0-0:96.1.1), hex-encoded text as the meter wrote it.
    assert t1["device"]["serial_number"] == want["0-0:96.1.1"][0][0]
    # run_push listens between readings instead of opening a session per reading.
    assert "listening continuously for pushes" in r.console(), (
        "MeterReader.run does not call iec_reader.run_push for iec-d meters yet")
