"""Benchmark: what importing each way out costs the heap, loaded from .mpy.

    .venv/bin/python tools/bench/import_heap.py

Prints (asserts nothing), on the unix MicroPython port (64-bit: its objects are
about twice an ESP32's, so these are upper bounds), for each module: its .mpy
size and the heap it keeps after import and a collection (its names and strings
counted, a new chunk of the qstr pool it happens to take not), measured alone in a
fresh interpreter with what it imports already loaded (so the figure is the
module's own; what every reader has loaded, COMMON, is loaded first for all).
umqtt.simple is listed for comparison: the reader used it
before its own client (firmware/mqtt_client.py); stock ESP32 firmware freezes
umqtt.simple into flash, where importing it costs far less than as .mpy.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from metereye_tools.unixport import MICROPYTHON, build_device_mpy  # noqa: E402

# What every running reader has loaded anyway: counted for none of the modules below.
COMMON = ("hw", "log", "runtime", "flashfile", "metereye.errors", "metereye.compat", "metereye.decimal",
          "metereye.reading", "metereye.ha")
# (module, what else it needs loaded first, so that only its own cost is counted)
MODULES = (
    ("umqtt.simple", ()),
    ("mqtt_client", ("outbox",)),
    ("mqtt", ("mqtt_client", "outbox")),
    ("metereye.discovery", ()),
    ("outbox", ()),
    ("store", ()),
    ("http_push", ("outbox", "metereye.url")),
    ("metereye.influx", ()),
    ("kmp_reader", ("link", "metereye.kmp", "metereye.meters.kamstrup")),
)

SCRIPT = """
import gc, sys, micropython
for name in sys.argv[2:]:
    __import__(name)
gc.collect()
micropython.qstr_info()
before = gc.mem_alloc()
__import__(sys.argv[1])
gc.collect()
after = gc.mem_alloc()
micropython.qstr_info()
print("kept", after - before)
"""


def _kept(out):
    """The module's own heap: what the import kept, less the growth of the qstr pool
    (a new pool chunk is taken whole by whichever import fills the last one, and
    later imports use it), plus the bytes of the module's own names and strings."""
    pools = [dict(kv.split("=") for kv in line.split(": ")[1].split(", "))
             for line in out.split("\n") if line.startswith("qstr pool")]
    kept = int(out.split("kept ")[1].split()[0])
    grown = int(pools[1]["n_total_bytes"]) - int(pools[0]["n_total_bytes"])
    strings = int(pools[1]["n_str_data_bytes"]) - int(pools[0]["n_str_data_bytes"])
    return kept - grown + strings


def main():
    out = build_device_mpy()
    path = ":".join([".frozen", os.path.join(out, "lib"), os.path.join(out, "app")])
    env = dict(os.environ, MICROPYPATH=path)
    print("module              .mpy     heap kept after import (unix port, 64-bit)")
    for name, first in MODULES:
        rel = name.replace(".", "/") + ".mpy"
        mpy = next((os.path.join(out, top, rel) for top in ("lib", "app")
                    if os.path.exists(os.path.join(out, top, rel))), None)
        size = os.path.getsize(mpy) if mpy else 0
        before = first if name == "umqtt.simple" else COMMON + first
        run = subprocess.run([MICROPYTHON, "-c", SCRIPT, name, *before], env=env, cwd=ROOT,
                             capture_output=True, text=True)
        kept = _kept(run.stdout) if run.returncode == 0 else "failed: " + run.stderr.strip()[-200:]
        print("%-18s %6d B  %s B" % (name, size, kept))


if __name__ == "__main__":
    sys.exit(main())
