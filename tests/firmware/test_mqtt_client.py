"""The reader's own MQTT client (firmware/mqtt_client.py) against a real Mosquitto:
over TLS, and refused with a reason on bad credentials, without blocking the loop."""

import json
import os
import subprocess

from fwhelp import Recorder, need_mosquitto

from metereye_tools.broker import Broker
from metereye_tools.unixport import MICROPYTHON, ROOT

# Publishes a retained QoS 1 message through the client, then prints how long the
# event loop was ever held up (a task that wakes every 20 ms measures it).
SCRIPT = r"""
import sys, time
import asyncio
from mqtt_client import Client
from outbox import Down

port, tls, user, password = int(sys.argv[1]), sys.argv[2] == "tls", sys.argv[3], sys.argv[4]
gap = [0]

async def ticker():
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(20)
        now = time.ticks_ms()
        gap[0] = max(gap[0], time.ticks_diff(now, last))
        last = now

async def main():
    asyncio.create_task(ticker())
    c = Client("mqtt-client-test", "127.0.0.1", port, user, password, tls=tls,
               will=("t/status", "offline", True, 1))
    try:
        await c.connect()
        await c.publish("t/state", '{"seq":1}', retain=True, qos=1)
        await c.disconnect()
        print("OK", gap[0])
    except Down as e:
        print("DOWN", e.args[0], e.args[1], gap[0])

asyncio.run(main())
"""


def _run(*args):
    path = ":".join([".frozen", os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")])
    run = subprocess.run([MICROPYTHON, "-c", SCRIPT, *map(str, args)], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, MICROPYPATH=path))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.split()


def test_a_retained_qos1_message_goes_out_over_tls():
    need_mosquitto()
    with Broker("mosquitto", tls=True).start() as broker:
        rec = Recorder(broker, topics=("t/#",))
        try:
            out = _run(broker.tls_port, "tls", "", "")
            assert out[0] == "OK", out
            rec.wait_for(lambda r: r.where("t/state"), timeout=10, what="the message sent over TLS")
            assert json.loads(rec.where("t/state")[0][1]) == {"seq": 1}
            assert not rec.where("t/status")        # a clean DISCONNECT: no last will
        finally:
            rec.close()


def test_bad_credentials_are_a_refusal_with_its_reason_and_the_loop_runs_on():
    need_mosquitto()
    with Broker("mosquitto") as broker:
        conf = os.path.join(broker.dir, "passwords")     # where mosquitto, no longer root, reads
        subprocess.run(["mosquitto_passwd", "-b", "-c", conf, "reader", "right-pass"], check=True,
                       capture_output=True)
        os.chmod(conf, 0o644)
        os.chmod(broker.dir, 0o755)
        with open(broker._config, "a") as f:
            f.write("allow_anonymous false\npassword_file %s\n" % conf)
        broker.start()
        out = _run(broker.port, "plain", "reader", "wrong-pass")
        text = " ".join(out)
        assert out[0] == "DOWN" and ("bad user name or password" in text or "not authorised" in text), out
        assert out[-2] == "True"                    # the broker is there: retried within a minute
        assert int(out[-1]) < 200, out              # the event loop was never held up
        assert _run(broker.port, "plain", "reader", "right-pass")[0] == "OK"
