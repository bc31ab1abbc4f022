"""The local broker, and the device's MQTT path against it, with real parts only.

umqtt.simple (fetched by tools/setup.sh, hash-checked) runs under the unix
MicroPython binary and publishes what lib/metereye/ha.py generates; paho-mqtt
on CPython subscribes and checks. A real Mosquitto serves the main tests (CI
installs it: a missing one fails there, and skips only on a developer's
machine); the amqtt fallback is run once.
"""

import hashlib
import json
import os
import select
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from metereye import discovery, ha
from metereye.meters.kamstrup import all_registers
from metereye.reading import Reading
from metereye_tools import broker as brokers
from metereye_tools import deps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MICROPYPATH = ":".join([".frozen"] + [os.path.join(ROOT, p) for p in ("build/deps", "lib", "firmware")])
WAIT_S = 10.0

READER = {"reader_id": "bench-1", "address": "127.0.0.1:8080", "sw_version": "0.1.0"}
METER = {"meter_id": "multical21_75749993", "manufacturer": "Kamstrup", "model": "Multical 21",
         "serial": "75749993"}
# tests/vectors/kmp_vectors.json water-7reg-resp-gg and water-serial-resp-gg, as the decoder spells them
VALUES = [("volume", "831.403", "m\u00b3"), ("hour_counter", "54888", "number"), ("info", "0", "number"),
          ("flow", "420", "l/h"), ("volume_reverse", "0.000", "m\u00b3"), ("temp_water", "20", "\u00b0C"),
          ("temp_ambient", "21", "\u00b0C"), ("serial_number", "75749993", "number")]


def _classes():
    rows = {}
    for row in all_registers():
        rows[row[1]] = row[2:]
    return rows.get


def _expected(reader_id):
    """What the device must publish, generated here on CPython from the same inputs."""
    reading = Reading(METER["meter_id"], 1700000000, VALUES, 7)
    found = list(discovery.discovery("homeassistant", "metereye", reader_id, dict(READER, reader_id=reader_id),
                              METER, reading, _classes()))
    return dict(found), ha.state_payload(reading, _classes())


# The device side: runs under unix MicroPython, argv HOST PORT READER_ID [TLS-MODE CA.der].
# It publishes with str topics and payloads: ha's JSON is ASCII, so umqtt.simple's
# len() is the byte count (a raw "m³" would corrupt the packet length).
DEVICE = r"""
import sys, time
from umqtt.simple import MQTTClient
from metereye import discovery, ha
from metereye.reading import Reading
from metereye.meters.kamstrup import all_registers

host, port, reader_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ssl_params = {}
if len(sys.argv) > 4:
    import ssl
    with open(sys.argv[5], "rb") as f:
        ca = f.read()
    # verification on: the broker's self-signed certificate is the only CA trusted
    ssl_params = {"cert_reqs": ssl.CERT_REQUIRED, "cadata": ca, "server_hostname": "localhost"}
rows = {}
for row in all_registers():
    rows[row[1]] = row[2:]
reading = Reading(METER["meter_id"], 1700000000, VALUES, 7)
reader = dict(READER)
reader["reader_id"] = reader_id
c = MQTTClient("metereye-" + reader_id, host, port, keepalive=60, ssl=bool(ssl_params), ssl_params=ssl_params)
status = ha.status_topic("metereye", reader_id)
c.set_last_will(status, ha.OFFLINE, retain=True)
try:
    c.connect()
except Exception as e:
    print("refused", repr(e))
    sys.exit(3)
c.publish(status, ha.ONLINE, retain=True)
n = 0
for topic, payload in discovery.discovery("homeassistant", "metereye", reader_id, reader, METER, reading, rows.get):
    c.publish(topic, payload, retain=True)
    n += 1
# QoS 1 waits for PUBACK: everything before it has reached the broker
c.publish(ha.state_topic("metereye", reader_id, METER["meter_id"]), ha.state_payload(reading, rows.get), qos=1)
print("published", n)
while True:
    time.sleep(1)      # stays connected until the test kills it (no DISCONNECT: the will fires)
"""


def _device_script(tmp_path):
    path = tmp_path / "device.py"
    path.write_text("READER = %r\nMETER = %r\nVALUES = %r\n%s" % (READER, METER, VALUES, DEVICE))
    return str(path)


def _start_device(tmp_path, broker, reader_id, port=None, tls_args=()):
    """Run the device script; return (process, its first line)."""
    proc = subprocess.Popen(
        [MICROPYTHON, "-X", "heapsize=128K", _device_script(tmp_path), broker.host,
         str(port or broker.port), reader_id, *tls_args],
        env=dict(os.environ, MICROPYPATH=MICROPYPATH), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], WAIT_S)
    line = proc.stdout.readline().strip() if ready else ""
    if not line:
        proc.kill()
        raise AssertionError("device script died: " + proc.stderr.read())
    return proc, line


class Subscriber:
    """A paho-mqtt client that records every message and can wait for a condition."""

    def __init__(self, broker, *topics, reconnect_s=None):
        self.topics = topics
        self.messages = []
        self.connects = 0
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="test-%d-%d" % (os.getpid(), id(self)))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.subscribed = 0
        self.sync_topic = "test-sync/%d" % id(self)
        if reconnect_s:
            self.client.reconnect_delay_set(reconnect_s, reconnect_s)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        assert self.wait(lambda: self.subscribed >= 1), "no SUBACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.connects += 1
            self.cond.notify_all()
        # a clean session forgets subscriptions: subscribe on every (re)connect
        client.subscribe([(t, 1) for t in self.topics + (self.sync_topic,)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.subscribed += 1
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload.decode("ascii"), msg.retain))
            self.cond.notify_all()

    def wait(self, predicate, timeout_s=WAIT_S):
        with self.cond:
            return self.cond.wait_for(predicate, timeout_s)

    def sync(self):
        """Return once the broker has delivered everything it queued for us before now.

        A broker delivers one connection's messages in order, so our own QoS 1
        marker arriving means the retained messages sent on SUBSCRIBE came first.
        """
        marker = "sync-%f" % time.monotonic()
        self.client.publish(self.sync_topic, marker, qos=1)
        assert self.wait(lambda: any(m[1] == marker for m in self.messages)), "sync marker lost"

    def received(self, topic=None):
        with self.cond:
            return [m for m in self.messages if m[0] != self.sync_topic and (topic is None or m[0] == topic)]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _need_mosquitto():
    if brokers.mosquitto_path():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("mosquitto is not installed: CI must install it (tools/system-packages.txt)")
    pytest.skip("mosquitto is not installed (tools/setup.sh --test installs it as root)")


@pytest.fixture(scope="module")
def mosquitto():
    _need_mosquitto()
    with brokers.start_broker(tls=True, kind="mosquitto") as b:
        yield b


@pytest.fixture(autouse=True, scope="module")
def umqtt_is_there():
    path = os.path.join(ROOT, "build", "deps", "umqtt", "simple.py")
    assert os.path.exists(path), "umqtt.simple missing: run tools/setup.sh"


def _publish_discovery_then_die(tmp_path, broker, reader_id):
    """The device's life: will, online, discovery, a state; then killed without DISCONNECT."""
    configs, state = _expected(reader_id)
    status = ha.status_topic("metereye", reader_id)
    state_t = ha.state_topic("metereye", reader_id, METER["meter_id"])
    live = Subscriber(broker, "metereye/%s/#" % reader_id, "homeassistant/sensor/+/config")
    device, line = _start_device(tmp_path, broker, reader_id)
    try:
        assert line == "published %d" % len(configs), line
        assert live.wait(lambda: live.received(state_t)), "state never arrived"
        assert live.received(state_t)[0][1] == state
        got_state = json.loads(state)
        assert got_state["flow"] == 0.42 and '"flow":0.420,' in state    # 420 l/h as m³/h, digits kept

        # A subscriber arriving later gets discovery and availability as retained messages,
        # byte for byte what CPython's ha generates: both runtimes write the same JSON.
        late = Subscriber(broker, "metereye/%s/#" % reader_id, "homeassistant/sensor/+/config")
        late.sync()
        retained = {t: (p, r) for t, p, r in late.received()}
        mine = [t for t in retained if t.startswith("metereye/%s/" % reader_id)
                or t.startswith("homeassistant/sensor/%s_" % reader_id)]
        assert set(mine) == set(configs) | {status}, sorted(set(mine) ^ (set(configs) | {status}))
        assert retained[status] == ("online", True)
        for topic, payload in configs.items():
            assert retained[topic] == (payload, True), topic
            config = json.loads(payload)
            assert config["availability_topic"] == status and config["unique_id"] in topic
        late.close()
    finally:
        device.kill()                       # SIGKILL: the socket closes with no DISCONNECT
        device.wait()
    assert live.wait(lambda: ("offline" in [p for t, p, _ in live.received(status)])), "no last will"
    after = Subscriber(broker, status)
    after.sync()
    got = after.received(status)
    # amqtt 0.12.1 sends a retained message once per matching subscription any client
    # holds (seen here, not in Mosquitto); duplicates are harmless to Home Assistant
    assert set(got) == {(status, "offline", True)}, got
    if broker.kind == "mosquitto":
        assert len(got) == 1, got
    after.close()
    live.close()


def test_umqtt_on_micropython_publishes_discovery_and_its_will_fires(mosquitto, tmp_path):
    _publish_discovery_then_die(tmp_path, mosquitto, "bench-1")


def test_amqtt_fallback_carries_discovery_and_the_will(tmp_path):
    with brokers.start_broker(kind="amqtt") as b:
        assert b.kind == "amqtt"
        _publish_discovery_then_die(tmp_path, b, "bench-amqtt")


def test_mosquitto_is_the_default_when_installed():
    _need_mosquitto()
    assert brokers.pick_kind() == "mosquitto"


def test_a_restarted_broker_is_fresh_and_clients_come_back(mosquitto, tmp_path):
    port = mosquitto.port
    keeper = Subscriber(mosquitto, "metereye/bench-2/#", reconnect_s=0.2)
    keeper.client.publish("metereye/bench-2/status", "online", qos=1, retain=True)
    keeper.sync()
    assert keeper.received("metereye/bench-2/status")

    mosquitto.stop()
    assert not brokers.mqtt_answers(mosquitto.host, port, 0.5)
    mosquitto.restart()
    assert mosquitto.port == port
    assert keeper.wait(lambda: keeper.connects >= 2), "paho did not reconnect"
    assert keeper.wait(lambda: keeper.subscribed >= 2), "no SUBACK after reconnect"

    # persistence is off: the retained status died with the broker, so the firmware
    # must publish online and discovery again after every reconnect
    fresh = Subscriber(mosquitto, "metereye/bench-2/#")
    fresh.sync()
    assert fresh.received() == []
    fresh.close()

    # and the device reconnects to the new broker on the same port
    device, line = _start_device(tmp_path, mosquitto, "bench-2")
    try:
        assert line.startswith("published"), line
        assert keeper.wait(lambda: ("metereye/bench-2/status", "online", False) in keeper.received())
    finally:
        device.kill()
        device.wait()
    keeper.close()


def test_a_paused_broker_accepts_tcp_but_never_answers(mosquitto):
    mosquitto.pause()
    try:
        assert not brokers.mqtt_answers(mosquitto.host, mosquitto.port, 0.5)
    finally:
        mosquitto.resume()
    assert brokers.mqtt_answers(mosquitto.host, mosquitto.port, 2.0)


def test_umqtt_over_tls_with_our_ussl_verifies_the_broker(mosquitto, tmp_path):
    ca = tmp_path / "ca.der"
    ca.write_bytes(mosquitto.ca_der)
    watch = Subscriber(mosquitto, "metereye/bench-tls/#")
    device, line = _start_device(tmp_path, mosquitto, "bench-tls", mosquitto.tls_port, ("verify", str(ca)))
    try:
        assert line.startswith("published"), line
        assert watch.wait(lambda: watch.received("metereye/bench-tls/multical21_75749993/state"))
    finally:
        device.kill()
        device.wait()
    watch.close()

    # another CA: the handshake must fail, or verification was never on
    with brokers.Broker("mosquitto", tls=True) as stranger:
        other = tmp_path / "other.der"
        other.write_bytes(stranger.ca_der)
    device, line = _start_device(tmp_path, mosquitto, "bench-tls2", mosquitto.tls_port, ("verify", str(other)))
    try:
        assert line.startswith("refused"), line
        assert device.wait(WAIT_S) == 3
    finally:
        device.kill()
        device.wait()


# --- the fetched device code (tools/metereye_tools/deps.py) --------------------------

def test_fetched_umqtt_is_the_pinned_file():
    with open(os.path.join(deps.DEPS, "umqtt", "simple.py"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == deps.UMQTT_SHA256
    for name in deps.MICRODOT_FILES:
        assert os.path.exists(os.path.join(deps.DEPS, "microdot", name)), name


def test_fetching_offline_says_what_to_do(tmp_path):
    nowhere = "http://127.0.0.1:%d/simple/" % brokers.free_port()   # nothing listens: refused
    # a good file is kept without asking the index at all
    assert deps.fetch_umqtt(deps.DEPS, index=nowhere) == "present"
    # a missing or tampered one is fetched, and offline that is a clear error
    (tmp_path / "umqtt").mkdir()
    (tmp_path / "umqtt" / "simple.py").write_text("# not umqtt\n")
    with pytest.raises(deps.DepsError) as err:
        deps.fetch_umqtt(str(tmp_path), index=nowhere)
    assert "cannot fetch umqtt.simple 1.3.4" in str(err.value) and "tools/setup.sh" in str(err.value)
    assert (tmp_path / "umqtt" / "simple.py").read_text() == "# not umqtt\n"
