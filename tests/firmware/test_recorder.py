"""The tests' MQTT recorder (fwhelp.Recorder) hears everything published once it is
constructed, however late paho's network thread gets to subscribing."""

import time

import paho.mqtt.publish as publish

from fwhelp import Recorder, need_mosquitto

from metereye_tools.broker import start_broker


class _BusyRecorder(Recorder):
    """A recorder on a busy machine: its network thread subscribes a second late."""

    def _on_connect(self, *args):
        time.sleep(1.0)
        Recorder._on_connect(self, *args)


def test_a_message_published_right_after_the_recorder_starts_is_recorded():
    need_mosquitto()
    broker = start_broker(persistent=True)
    rec = _BusyRecorder(broker)
    try:
        publish.single("metereye/r/m_1/state", '{"t":1,"seq":1}', qos=1, hostname=broker.host, port=broker.port)
        rec.wait_for(lambda r: r.states(), timeout=10, what="the state published right after")
        assert rec.states() == [{"t": 1, "seq": 1}]
    finally:
        rec.close()
        broker.close()


def test_what_is_published_while_the_recorder_is_cut_off_by_a_broker_restart_is_recorded():
    need_mosquitto()
    broker = start_broker(persistent=True)
    rec = _BusyRecorder(broker)
    try:
        broker.stop()               # at once, as test_readings_queued_at_a_restart_are_sent_after_it does
        broker.start()
        publish.single("metereye/r/m_1/state", '{"t":2,"seq":2}', qos=1, hostname=broker.host, port=broker.port)
        rec.wait_for(lambda r: r.states(), timeout=15, what="the state published before the recorder was back")
        assert rec.states() == [{"t": 2, "seq": 2}]
    finally:
        rec.close()
        broker.close()
