"""HTTP push (firmware/http_push.py) end to end: the reader on the unix MicroPython
port reads `metereye simulate` through a relay that keeps what the meter served,
and POSTs each reading to a real HTTP server in the test, or to a real InfluxDB
(Debian's influxd 1.x), beside MQTT to a real Mosquitto."""

import base64
import json
import time
import urllib.request
from decimal import Decimal

import pytest

from metereye import ha
from metereye.decimal import format_decimal, parse_decimal
from metereye_tools.broker import free_port
from pushhelp import Influx, Receiver, need_influxd

TOKEN = "push-token-7Yt4qa"


def _status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=10) as r:
        return json.loads(r.read())["reader"]


def _wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def _in_order(delivered, served, key="volume"):
    """Each delivered reading is one the meter served, whole and exact, in the meter's
    order (a session cut by a restart may be missing, never invented or reordered)."""
    at = 0
    for body in delivered:
        got = {k: (v, body["units"][k]) for k, v in body["values"].items()}
        while at < len(served) and served[at] != got:
            at += 1
        assert at < len(served), ("not what the meter served, or out of order", body)
        at += 1


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_json_push_delivers_every_reading_once_in_order_across_errors_and_a_restart(rig, receiver):
    web = free_port()
    r = rig(relay=True, broker=False, interval_s=2, extra_config={
        "http": {"url": receiver.url + "/meters/in", "token": TOKEN},
        "web": {"port": web, "password": "page-pass-1"}})
    receiver.answer = lambda body: 500
    r.start_firmware()
    _wait(lambda: receiver.count(500) >= 3 and len(r.relay.sessions()) >= 3, 60, "three refused posts")
    shown = _status(web)["http"]
    assert shown["connected"] is False and shown["error"] == "the server answered HTTP 500", shown
    assert shown["queued"] >= 1 and shown["last_seq"] is None and shown["url"] == receiver.url + "/meters/in"
    r.stop_firmware()                           # readings still on flash, none confirmed
    queued = open(r.flash + "/queue.jsonl").read().count("\n")
    assert queued >= 3
    r.start_firmware()
    _wait(lambda: receiver.count(500) >= 5, 60, "more refused posts after the restart")
    receiver.answer = lambda body: 204          # the server is back
    _wait(lambda: len(receiver.taken()) >= queued + 3, 90, "the queued readings and new ones")
    _wait(lambda: _status(web)["http"]["queued"] == 0, 30, "the queue emptied")
    r.stop_firmware()
    delivered = receiver.taken()
    seqs = [b["seq"] for b in delivered]
    assert seqs == list(range(1, len(seqs) + 1)), seqs          # every one, once, in order
    _in_order(delivered, r.relay.sessions())
    first = delivered[0]
    assert set(first) == {"meter", "t", "seq", "values", "units"} and first["meter"] == "multical21_75749993"
    assert first["units"]["volume"] == "m³" and isinstance(first["values"]["volume"], str)
    path, headers, _, _ = receiver.requests[-1]
    assert path == "/meters/in" and headers["Authorization"] == "Bearer " + TOKEN
    assert headers["Content-Type"] == "application/json"
    assert "http: published the first reading since boot" in r.console()


def test_a_reading_refused_for_good_is_counted_and_passed_over_and_429_is_retried(rig, receiver):
    web = free_port()
    r = rig(relay=True, broker=False, interval_s=2, extra_config={
        "http": {"url": receiver.url + "/in", "user": "reader", "password": "push-pass-3Rt"},
        "web": {"port": web, "password": "page-pass-1"}})
    tries = {}

    def answer(body):
        seq = json.loads(body)["seq"]
        tries[seq] = tries.get(seq, 0) + 1
        if seq == 2:
            return 422                  # this one never: passed over
        if seq == 3 and tries[seq] < 3:
            return 429                  # not now: tried again
        return 200

    receiver.answer = answer
    r.start_firmware()
    _wait(lambda: len(receiver.taken()) >= 4, 90, "four readings taken")
    shown = _status(web)["http"]
    r.stop_firmware()
    seqs = [b["seq"] for b in receiver.taken()]
    assert seqs[:3] == [1, 3, 4], seqs
    assert tries[2] == 1 and tries[3] == 3
    assert shown["refused"] == 1 and shown["sent"] >= 3
    assert "refused reading 2 of multical21_75749993 for good: HTTP 422" in r.console()
    assert receiver.requests[0][1]["Authorization"] == "Basic " + base64.b64encode(b"reader:push-pass-3Rt").decode()


def test_influxdb2_writes_are_what_its_write_api_takes(rig, receiver):
    r = rig(relay=True, broker=False, interval_s=2, extra_config={
        "http": {"url": receiver.url + "/influx/", "format": "influxdb2", "org": "my org",
                 "bucket": "meters", "token": TOKEN}})
    r.start_firmware()
    _wait(lambda: len(receiver.requests) >= 2, 60, "two writes")
    r.stop_firmware()
    path, headers, body, _ = receiver.requests[0]
    assert path == "/influx/api/v2/write?org=my%20org&bucket=meters&precision=s"
    assert headers["Authorization"] == "Token " + TOKEN
    line = body.decode()
    assert line.endswith("\n") and line.count("\n") == 1
    head, fields, t = line[:-1].split(" ")
    assert head == "multical21,meter=multical21_75749993,reader=test-reader,serial=75749993"
    # Every value as the meter wrote it: decimals with all their digits, the rest as strings.
    served = r.relay.sessions()[0]
    want = []
    for key, (value, _) in served.items():
        parsed = parse_decimal(value)
        want.append("%s=%s" % (key, format_decimal(*parsed) if parsed else '"%s"' % value))
    assert sorted(fields.split(",")) == sorted(want), (fields, want)
    assert abs(int(t) - time.time()) < 120


def test_influxdb_and_mqtt_at_once_every_point_once_exact_while_the_broker_freezes(rig):
    need_influxd()
    influx = Influx()
    try:
        influx.query("CREATE DATABASE meters", post=True)
        web = free_port()
        r = rig(relay=True, interval_s=2, extra_config={
            "http": {"url": influx.url, "format": "influxdb1", "database": "meters",
                     "user": Influx.USER, "password": Influx.PASSWORD},
            "web": {"port": web, "password": "page-pass-1"}})
        r.start_firmware()
        rec = r.recorder
        rec.wait_for(lambda x: len(x.states()) >= 2, timeout=60, what="two readings over MQTT")
        # MQTT stalls (the broker accepts TCP and answers nothing); InfluxDB keeps getting readings.
        r.broker.pause()
        before = len(influx.points("meters", "multical21"))
        _wait(lambda: len(influx.points("meters", "multical21")) >= before + 3
              and not _status(web)["mqtt"]["connected"], 60,
              "points in InfluxDB while the broker is frozen, and MQTT seeing it")
        frozen = _status(web)
        r.broker.resume()
        rec.wait_for(lambda x: len(x.states()) >= len(influx.points("meters", "multical21")), timeout=90,
                     what="MQTT catching up")
        _wait(lambda: _status(web)["queued"] == 0, 60, "both targets caught up")
        r.stop_firmware()
        assert frozen["http"]["connected"] is True and frozen["http"]["queued"] <= 1
        assert frozen["mqtt"]["queued"] >= 1 and frozen["queued"] >= 1
        assert "from the broker within" in frozen["mqtt"]["error"], frozen["mqtt"]
        points = influx.points("meters", "multical21")
        states = {s["seq"]: s for s in rec.states()}               # a QoS 1 resend repeats a seq
        assert sorted(states) == list(range(1, len(states) + 1))
        assert len(points) == len(states), (len(points), len(states))
        served = r.relay.sessions()
        by_volume = {Decimal(v["volume"][0]): v for v in served}
        assert len(by_volume) == len(served)                      # the volume tells sessions apart
        for seq in sorted(states):
            state, point = states[seq], points[seq - 1]
            assert point["time"] == state["t"], (point, state)     # the same reading, the same second
            meter = by_volume[point["volume"]]
            for key, (value, unit) in meter.items():
                if ":" in value:
                    assert point[key] == value                    # a time of day: a string field
                    continue
                assert point[key] == Decimal(value), (key, point[key], value)
                # MQTT's copy in Home Assistant's units, from the same exact digits
                assert Decimal(str(state[key])) == Decimal(ha.ha_value(value, unit)[0]), key
            assert point["meter"] == "multical21_75749993" and point["serial"] == "75749993"
            assert point["reader"] == "test-reader"
    finally:
        influx.close()


def test_several_requests_in_flight_deliver_every_reading_and_confirm_in_order(rig, receiver):
    web = free_port()
    r = rig(relay=True, broker=False, interval_s=2, extra_config={
        "http": {"url": receiver.url + "/in", "max_in_flight": 3},
        "web": {"port": web, "password": "page-pass-1"}})
    calls = []

    def answer(body):
        seq = json.loads(body)["seq"]
        calls.append(seq)
        if len(calls) <= 6 or (seq == 5 and calls.count(5) == 1):
            return 503          # a backlog first; later seq 5 fails once beside others
        time.sleep(0.3)         # slow answers: the requests overlap
        return 201

    receiver.answer = answer
    r.start_firmware()
    _wait(lambda: len({b["seq"] for b in receiver.taken()}) >= 8, 120, "eight readings taken")
    _wait(lambda: _status(web)["http"]["queued"] == 0, 30, "the queue emptied")
    shown = _status(web)["http"]
    r.stop_firmware()
    taken = [b["seq"] for b in receiver.taken()]
    assert set(taken) == set(range(1, max(taken) + 1)), taken        # none lost
    assert shown["last_seq"] == max(taken) and shown["refused"] == 0
    # A reading taken beside one that failed is sent again with it: a consumer drops it by seq.
    assert all(taken.count(seq) <= 2 for seq in set(taken)), taken
    # Requests overlapped: some later seq arrived before an earlier one finished.
    assert taken != sorted(taken) or len(taken) > len(set(taken)), taken
