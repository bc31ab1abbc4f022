"""The reader firmware end to end on a PC: unix MicroPython + `metereye simulate`
over a real pty + a real Mosquitto, checked from a real MQTT subscriber."""

import json
import time
from decimal import Decimal


WRITING_KMP = {0x09, 0x11, 0x9C}

# What a real Home Assistant 2025.4 accepted (docs/homeassistant.md).
HA_ACCEPTS = {
    "water": {"m³"},
    "energy": {"kWh", "MWh", "GJ", "Wh"},
    "volume_flow_rate": {"m³/h", "L/min"},
    "temperature": {"°C", "K"},
    "power": {"W", "kW"},
    "duration": {"h", "d", "min", "s"},
    "signal_strength": {"dBm"},
}


def _seqs(states):
    return [s["seq"] for s in states]


def test_discovery_and_state_are_what_home_assistant_accepts(rig):
    r = rig()
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: len(x.states()) >= 1 and x.where("_volume/config"), what="a reading")
    configs = {t: json.loads(p) for t, p in rec.where("/config")}
    volume = next(c for t, c in configs.items() if t.endswith("_volume/config"))
    assert volume["device_class"] == "water" and volume["unit_of_measurement"] == "m³"
    assert volume["state_class"] == "total_increasing"
    flow = next(c for t, c in configs.items() if t.endswith("_flow/config"))
    assert flow["device_class"] == "volume_flow_rate" and flow["unit_of_measurement"] == "m³/h"
    for topic, c in configs.items():
        dc = c.get("device_class")
        if dc in HA_ACCEPTS:
            assert c.get("unit_of_measurement") in HA_ACCEPTS[dc], (topic, c)
        if dc == "temperature":
            assert c["state_class"] == "measurement", topic
        assert c["availability_topic"].endswith("/status")
        assert c["unique_id"] and "75749993" in c["unique_id"] or "test-reader" in c["unique_id"]
    device = volume["device"]
    assert device["manufacturer"] == "Kamstrup" and "Multical 21" in device["model"]
    assert str(device["serial_number"]) == "75749993"
    assert any(c.get("entity_category") == "diagnostic" for c in configs.values())
    status = rec.where("test-reader/status")
    assert status and status[-1][1] == "online"
    state = rec.states()[0]
    assert Decimal(str(state["volume"])) > 800
    # l/h on the meter, m³/h for Home Assistant: an exact shift, not a float
    raw = rec.where("/state")[0][1]
    assert '"flow":0.' in raw or '"flow":0,' in raw or '"flow":0}' in raw


def test_readings_survive_a_broker_outage_in_order_none_twice(rig):
    r = rig()
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: len(x.states()) >= 2, what="two readings")
    r.broker.stop()
    time.sleep(12)                       # the meter is read ~4 times meanwhile
    r.broker.start()
    rec.wait_for(lambda x: len(x.states()) >= 8, timeout=60, what="readings after the outage")
    seqs = _seqs(rec.states())
    assert seqs == sorted(seqs), seqs
    assert len(seqs) == len(set(seqs)), seqs
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a reading went missing: %s" % seqs
    volumes = [Decimal(str(s["volume"])) for s in rec.states()]
    assert volumes == sorted(volumes)
    assert "connection lost" in r.console() or "cannot connect" in r.console()


def test_readings_queued_at_a_restart_are_sent_after_it(rig):
    r = rig()
    r.broker.stop()
    r.start_firmware()
    time.sleep(8)
    r.stop_firmware()                    # readings still on "flash"
    queued = open(r.flash + "/queue.jsonl").read().count("\n")
    assert queued >= 2
    r.broker.start()
    r.start_firmware()
    r.recorder.wait_for(lambda x: len(x.states()) >= queued + 1, timeout=40, what="the queued readings")
    seqs = _seqs(r.recorder.states())
    assert seqs[:queued] == list(range(1, queued + 1)), seqs
    assert len(seqs) == len(set(seqs))
    assert "still queued from before" in r.console()


def test_a_lockout_is_reported_and_never_turned_into_values(rig):
    # The simulated meter answers 4 requests (2 sessions), then goes silent for good.
    r = rig(sim_args=("--lockout", "4/86400"), wake=False)
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: any(json.loads(p)["state"] == "lockout" for _, p in x.where("/diag")
                               if '"state"' in p), timeout=60, what="the lockout state")
    states = rec.states()
    assert 1 <= len(states) <= 2
    for s in states:
        assert Decimal(str(s["volume"])) > 800      # never a 0 or null for a counter
    time.sleep(5)
    assert len(rec.states()) == len(states)        # nothing invented while it is silent


def test_the_wake_output_wakes_a_sleeping_meter(rig):
    r = rig(sim_args=("--need-magnet",))
    r.start_firmware()
    r.recorder.wait_for(lambda x: len(x.states()) >= 2, timeout=40, what="readings from a woken meter")
    events = [json.loads(line) for line in open(r.log) if "magnet applied" in line]
    assert events, "the firmware never applied the magnet"


def test_no_writing_command_ever_reaches_the_meter(rig):
    r = rig()
    r.start_firmware()
    r.recorder.wait_for(lambda x: len(x.states()) >= 3, what="three readings")
    cids = {c["cid"] for c in r.commands() if "cid" in c}
    assert cids and not cids & WRITING_KMP, cids


def test_readings_taken_before_the_clock_is_known_are_stamped_once_it_is(rig):
    r = rig(interval_s=2)
    start = time.time()
    r.start_firmware(env={"METEREYE_CLOCK_AFTER_S": "7"})
    r.recorder.wait_for(lambda x: len(x.states()) >= 1, timeout=40, what="a first reading")
    first_arrived = time.time()
    r.recorder.wait_for(lambda x: len(x.states()) >= 5, timeout=40, what="five readings")
    states = r.recorder.states()
    stamps = [s["t"] for s in states]
    assert all(isinstance(t, int) for t in stamps), stamps
    assert stamps == sorted(stamps)
    # The first readings were taken in the first seconds, before the clock was
    # known, and carry that time, not the time they were published.
    assert stamps[0] - start < 4, (stamps[0] - start)
    assert first_arrived - start > 6, "published before the clock was known"


def test_two_meters_on_one_reader_each_on_its_own_schedule(rig):
    from simhelp import Sim
    with Sim("multical403", "--speed", "60") as heat:
        r = rig(interval_s=2, extra_config=None)
        r.config["meters"].append({"model": "multical403", "port": heat.port, "interval_s": 5, "budget": 1440})
        r.start_firmware()
        r.recorder.wait_for(lambda x: {s["t"] and t.split("/")[2] for t, s in
                                       ((t, json.loads(p)) for t, p in x.where("/state"))} >= {
            "multical21_75749993", "multical403_19088743"}, timeout=40, what="both meters")
        time.sleep(6)
    by_meter = {}
    for topic, payload in r.recorder.where("/state"):
        by_meter.setdefault(topic.split("/")[2], []).append(json.loads(payload))
    assert "heat_energy" in by_meter["multical403_19088743"][0]
    assert len(by_meter["multical21_75749993"]) > len(by_meter["multical403_19088743"])


def test_discovery_is_sent_again_when_home_assistant_comes_online(rig):
    import paho.mqtt.publish as publish
    r = rig()
    r.start_firmware()
    rec = r.recorder
    rec.wait_for(lambda x: x.where("_volume/config"), what="discovery")
    before = len(rec.where("_volume/config"))
    publish.single("homeassistant/status", "online", hostname=r.broker.host, port=r.broker.port)
    rec.wait_for(lambda x: len(x.where("_volume/config")) > before, timeout=15,
                 what="discovery sent again after Home Assistant's birth message")


def test_a_meter_whose_protocol_this_firmware_cannot_read_leaves_the_others_read(rig):
    """A protocol in the table whose reading module the firmware lacks (SML's, as this
    is written): that meter is refused with a reason, the others are read."""
    import os
    import pytest
    from metereye import meters, protocols
    missing = [row for row in protocols.PROTOCOLS
               if not os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..", "firmware",
                                                  row[5] + ".py"))]
    if not missing:
        pytest.skip("every protocol in the table has its reading module in firmware/")
    name = missing[0][0]
    model = next(m[0] for m in meters.MODELS if m[1] == name)
    r = rig()
    r.config["meters"].append({"model": model, "port": "/dev/null"})
    r.start_firmware()
    r.recorder.wait_for(lambda x: len(x.states()) >= 2, timeout=40, what="readings of the other meter")
    assert "meter 1 %s cannot be read by this firmware (protocol %s)" % (model, name) in r.console()
