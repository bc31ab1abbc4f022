"""The main job on a PC: a simulated Multical 21, the reader firmware on the
unix MicroPython port reading it over a pty, publishing to a local MQTT broker
and serving its page, and each reading printed as it is published. Ctrl-C
stops it all."""

import os
import shutil
import signal
import tempfile
import sys
import threading

from metereye_tools import simulator, watch
from metereye_tools.broker import free_port, start_broker
from metereye_tools.unixport import Firmware


PAGE_PASSWORD = "metereye-demo"     # the demo's page, on 127.0.0.1 only: not a secret


def demo_config(pty, magnet, broker, web_port):
    return {
        "reader_id": "metereye-demo",
        "mqtt": {"host": broker.host, "port": broker.port},
        "test_intervals": True,      # a simulated meter has no battery to spare
        "meters": [{"model": "multical21", "port": pty, "interval_s": 10, "budget": 1440,
                    "wake": {"file": magnet, "pulse_ms": 100}}],
        "web": {"enabled": True, "port": web_port, "password": PAGE_PASSWORD},
    }


def run(seconds=None, speed=60.0, web_port=None, out=print):
    flash = tempfile.mkdtemp(prefix="metereye-flash-")
    magnet = os.path.join(flash, "magnet")
    broker = start_broker()
    meter = simulator.make_meter("multical21", simulator.Faults(need_magnet=True), speed=speed)
    sim = simulator.Simulation(meter, magnet_file=magnet)
    pty = sim.open_pty()
    threading.Thread(target=sim.run, daemon=True).start()
    fw = Firmware(flash)
    web_port = web_port or free_port()
    fw.write_config(demo_config(pty, magnet, broker, web_port))
    fw.start()
    out("metereye demo")
    out("  simulated Multical 21 on %s (needs its magnet: the firmware's wake output applies it)" % pty)
    out("  reader firmware on unix MicroPython, flash folder %s, console %s" % (flash, fw.log_path))
    out("  MQTT broker (%s) on %s:%d; watch it from another terminal with:" % (broker.kind, broker.host, broker.port))
    out("    %s watch --broker %s:%d        (--all: every topic and payload)"
        % (_metereye_command(), broker.host, broker.port))
    out("  the reader's page: http://127.0.0.1:%d/  (password for its settings: %s)" % (web_port, PAGE_PASSWORD))
    out("  readings (metereye/metereye-demo/<meter>/state, units as Home Assistant shows them), Ctrl-C stops:")
    stop = threading.Event()
    if seconds:
        threading.Timer(seconds, stop.set).start()
    try:
        _follow(broker, out, stop, fw)
    except KeyboardInterrupt:
        pass
    finally:
        fw.stop()
        broker.stop()
        shutil.rmtree(flash, ignore_errors=True)


def _metereye_command():
    """How a person in this shell starts the metereye of this venv."""
    here = os.path.join(os.path.dirname(sys.executable), "metereye")
    if shutil.which("metereye") == here or not os.path.exists(here):
        return "metereye"
    return os.path.relpath(here) if not os.path.relpath(here).startswith("..") else here


def _follow(broker, out, stop, fw):
    client = watch.subscribe(broker.host, broker.port, out, client_id="metereye-demo-watch")
    try:
        while not stop.wait(0.5):
            if fw.proc.poll() is not None:
                out("the firmware stopped (exit %s); its console:\n%s" % (fw.proc.returncode, fw.console()[-2000:]))
                break
    finally:
        client.loop_stop()
        client.disconnect()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run()
