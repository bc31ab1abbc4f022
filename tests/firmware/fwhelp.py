"""The whole reader on a PC for tests: `metereye simulate` on a pty, the firmware
on the unix MicroPython binary, a real broker, and a subscriber that records
everything the broker delivers."""

import json
import os
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from simhelp import Sim  # noqa: E402

from metereye_tools.broker import mosquitto_path, start_broker  # noqa: E402
from metereye_tools.unixport import Firmware  # noqa: E402


def need_mosquitto():
    if mosquitto_path() is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (tools/test.sh installs it as root)")
        pytest.skip("mosquitto is not installed: run tools/test.sh as root, or apt-get install mosquitto")


class Recorder:
    """A paho subscriber keeping every message: (topic, payload text, retain).

    Subscribed when constructed: the constructor returns only once the broker
    acknowledged the subscription. A test that stops the broker right after
    (test_readings_queued_at_a_restart_are_sent_after_it) otherwise races
    paho's network thread: on a busy machine the broker could be stopped
    before it saw the subscription, or even the session, and the readings
    published before the recorder came back were never queued for it.
    """

    SUBSCRIBE_TIMEOUT_S = 20.0

    def __init__(self, broker, topics=("metereye/#", "homeassistant/#")):
        import paho.mqtt.client as mqtt
        self.messages = []
        self.lock = threading.Lock()
        self.topics = topics
        self.subscribed = threading.Event()
        # A persistent session: the broker keeps queuing for us while we reconnect,
        # so "every reading arrives" is not a race with our own reconnect.
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-recorder-%d" % id(self),
                        clean_session=False)
        c.on_message = self._on_message
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *args: self.subscribed.set()
        c.reconnect_delay_set(0.2, 1)
        self.client = c
        c.connect(broker.host, broker.port)
        c.loop_start()
        if not self.subscribed.wait(self.SUBSCRIBE_TIMEOUT_S):
            self.close()
            raise AssertionError("the broker did not acknowledge the recorder's subscription")

    def _on_connect(self, client, userdata, flags, reason, props):
        if flags.session_present:
            self.subscribed.set()   # the session kept it
            return           # subscribing again would replay retained messages as duplicates
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace"), msg.retain))

    def where(self, suffix):
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if t.endswith(suffix)]

    def states(self):
        """Every reading published, parsed, in arrival order (live ones: a retained
        copy replayed on subscribing is not a second publication)."""
        with self.lock:
            return [json.loads(p) for t, p, retain in self.messages if t.endswith("/state") and not retain]

    def wait_for(self, predicate, timeout=30.0, what="messages"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self):
                return
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; got %d messages" % (what, len(self.messages)))

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Rig:
    """Simulator + firmware + broker + recorder, with the flash folder kept between firmware runs."""

    def __init__(self, sim_args=(), meter="multical21", interval_s=3, broker=True, wake=True,
                 extra_config=None, relay=False):
        self.flash = tempfile.mkdtemp(prefix="metereye-test-flash-")
        self.log = os.path.join(self.flash, "meter-commands.jsonl")
        self.magnet = os.path.join(self.flash, "magnet")
        self.sim = Sim(meter, "--speed", "60", "--log", self.log, "--magnet-file", self.magnet, *sim_args,
                       tcp=relay)
        self.relay = None
        port = self.sim.port
        if relay:
            # The meter over TCP, through a relay that keeps what it served (pushhelp.Relay).
            from pushhelp import Relay
            self.relay = Relay(self.sim.tcp_port)
            port = self.relay.spec
        self.broker = start_broker(persistent=True)
        self.recorder = Recorder(self.broker)
        cfg = {"reader_id": "test-reader", "test_intervals": True,
               "mqtt": {"host": self.broker.host if broker else "", "port": self.broker.port},
               "meters": [{"model": meter, "port": port, "interval_s": interval_s,
                           "budget": 1440}]}
        if wake:
            cfg["meters"][0]["wake"] = {"file": self.magnet, "pulse_ms": 50}
        if extra_config:
            cfg.update(extra_config)
        self.config = cfg
        self.firmware = None

    def start_firmware(self, **kw):
        self.firmware = Firmware(self.flash, **kw)
        self.firmware.write_config(self.config)
        self.firmware.start()
        return self.firmware

    def stop_firmware(self):
        if self.firmware is not None:
            self.firmware.stop()

    def commands(self):
        """Every command the simulated meter received."""
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f if '"cid"' in line or '"command"' in line]
        except FileNotFoundError:
            return []

    def close(self):
        self.stop_firmware()
        self.recorder.close()
        self.broker.close()
        if self.relay is not None:
            self.relay.close()
        self.sim.stop()

    def console(self):
        return self.firmware.console() if self.firmware else ""
