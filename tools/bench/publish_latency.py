"""Benchmark: how long the firmware's first MQTT publishes take (Home Assistant
discovery: ~25 retained QoS 1 messages). umqtt.simple blocks every task while it
waits for each PUBACK, so the time the burst takes is time in which no meter is
read and the page does not answer.

    .venv/bin/python tools/bench/publish_latency.py

Prints (asserts nothing), on the unix port against a simulated Multical 21 and a
local Mosquitto, as seen by a subscriber: the discovery messages of the first
reading, the time from the first to the last, and the mean gap between two.
"""

import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from simhelp import Sim  # noqa: E402

from metereye_tools.broker import free_port, start_broker  # noqa: E402
from metereye_tools.unixport import Firmware  # noqa: E402


def main():
    import paho.mqtt.client as mqtt
    broker = start_broker()
    arrivals = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        with lock:
            arrivals.append((time.monotonic(), msg.topic))

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-latency")
    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe("homeassistant/#", qos=1)
    sub.loop_start()
    with Sim("multical21", "--speed", "60") as sim:
        fw = Firmware(tempfile.mkdtemp(prefix="metereye-bench-"), mpy=True)
        fw.write_config({"reader_id": "bench", "test_intervals": True,
                         "mqtt": {"host": broker.host, "port": broker.port},
                         "meters": [{"model": "multical21", "port": sim.port, "interval_s": 5, "budget": 1440}],
                         "web": {"enabled": True, "port": free_port(), "password": "bench-password"}})
        fw.start()
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and "published the first reading" not in fw.console():
                time.sleep(0.1)
            time.sleep(1)
        finally:
            fw.stop()
    sub.loop_stop()
    sub.disconnect()
    broker.close()
    with lock:
        times = [t for t, topic in arrivals if topic.endswith("/config")]
    if len(times) < 2:
        print("no discovery burst seen:\n" + fw.console()[-1000:])
        return
    span = times[-1] - times[0]
    print("discovery of the first reading: %d messages in %.0f ms, %.1f ms apart on average "
          "(every task waits meanwhile)" % (len(times), span * 1000, span * 1000 / (len(times) - 1)))


if __name__ == "__main__":
    main()
