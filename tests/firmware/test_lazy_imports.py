"""A protocol's modules are imported only where a meter of it is configured: the
whole reader (meters, MQTT, the page) runs on the unix MicroPython port until its
first reading is out, then prints sys.modules."""

import os
import subprocess
import sys

from fwhelp import need_mosquitto
from simhelp import Sim

from metereye_tools.broker import free_port, start_broker
from metereye_tools.unixport import DEPS, MICROPYTHON, ROOT

# App.run as main() runs it, with a watcher that prints the loaded modules once
# the first reading went out to the broker, then stops the reader.
DRIVER = r"""
import sys
import asyncio
import app, runtime, settings
cfg = settings.load()
del settings
runtime.forget(*runtime.BOOT_ONLY)
reader = app.App(cfg)

async def watch():
    while reader.mqtt is None or not reader.mqtt.link.sent:
        await asyncio.sleep_ms(100)
    print("MODULES", " ".join(sorted(sys.modules)))
    reader.restart()

async def main():
    asyncio.create_task(watch())
    await reader.run()

asyncio.run(main())
"""

IEC_ONLY = ("metereye.iec", "metereye.obis", "metereye.p1", "metereye.meters.iec_profiles", "iec_reader")
KMP_ONLY = ("metereye.kmp", "metereye.meters.kamstrup", "metereye.meters.kamstrup_water",
            "metereye.meters.kamstrup_heat", "kmp_reader")


def _modules(tmp_path, model, sim_args=()):
    need_mosquitto()
    broker = start_broker()
    try:
        with Sim(model, "--speed", "60", *sim_args) as sim:
            (tmp_path / "config.json").write_text(
                '{"reader_id": "imports", "test_intervals": true, "mqtt": {"host": "%s", "port": %d},'
                ' "web": {"port": %d}, "meters": [{"model": "%s", "port": "%s", "interval_s": 3}]}'
                % (broker.host, broker.port, free_port(), model, sim.port))
            path = ":".join([".frozen", DEPS, os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")])
            run = subprocess.run([MICROPYTHON, "-c", DRIVER], cwd=str(tmp_path), capture_output=True,
                                 text=True, timeout=60, env=dict(os.environ, MICROPYPATH=path))
    finally:
        broker.close()
    line = [x for x in run.stdout.split("\n") if x.startswith("MODULES ")]
    assert line, run.stdout[-3000:] + run.stderr
    return set(line[0].split()[1:])


def test_a_kmp_only_reader_never_loads_the_iec_code(tmp_path):
    loaded = _modules(tmp_path, "multical21")
    assert "kmp_reader" in loaded and "metereye.kmp" in loaded and "mqtt" in loaded and "web" in loaded
    assert not loaded & set(IEC_ONLY), sorted(loaded & set(IEC_ONLY))


def test_an_iec_only_reader_never_loads_the_kmp_register_tables(tmp_path):
    loaded = _modules(tmp_path, "iec-electricity")
    assert "iec_reader" in loaded and "metereye.obis" in loaded
    assert not loaded & set(KMP_ONLY), sorted(loaded & set(KMP_ONLY))
