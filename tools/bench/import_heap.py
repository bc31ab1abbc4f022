"""Benchmark: what importing each way out costs the heap, loaded from .mpy.

    .venv/bin/python tools/bench/import_heap.py

Prints (asserts nothing), on the unix MicroPython port (64-bit: its objects are
about twice an ESP32's, so these are upper bounds), for each module: its .mpy
size and the heap it keeps after import and a collection, measured alone in a
fresh interpreter with what it imports already loaded (so the figure is the
module's own). umqtt.simple is listed for comparison: the reader used it
before its own client (firmware/mqtt_client.py); stock ESP32 firmware freezes
umqtt.simple into flash, where importing it costs far less than as .mpy.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from metereye_tools.unixport import MICROPYTHON, build_device_mpy  # noqa: E402

# (module, what it needs loaded first so that only its own cost is counted)
MODULES = (
    ("umqtt.simple", ()),
    ("mqtt_client", ("outbox", "hw")),
    ("mqtt", ("mqtt_client", "outbox", "hw", "metereye.ha", "runtime")),
    ("outbox", ("hw", "log", "runtime")),
    ("store", ("flashfile", "metereye.reading")),
    ("http_push", ("outbox", "hw", "runtime", "metereye.url")),
    ("kmp_reader", ("link", "metereye.kmp", "metereye.meters.kamstrup")),
)

SCRIPT = """
import gc, sys
for name in sys.argv[2:]:
    __import__(name)
gc.collect()
before = gc.mem_alloc()
__import__(sys.argv[1])
gc.collect()
print(gc.mem_alloc() - before)
"""


def main():
    out = build_device_mpy()
    path = ":".join([".frozen", os.path.join(out, "lib"), os.path.join(out, "app")])
    env = dict(os.environ, MICROPYPATH=path)
    print("module            .mpy     heap kept after import (unix port, 64-bit)")
    for name, first in MODULES:
        rel = name.replace(".", "/") + ".mpy"
        mpy = next((os.path.join(out, top, rel) for top in ("lib", "app")
                    if os.path.exists(os.path.join(out, top, rel))), None)
        size = os.path.getsize(mpy) if mpy else 0
        run = subprocess.run([MICROPYTHON, "-c", SCRIPT, name, *first], env=env, cwd=ROOT,
                             capture_output=True, text=True)
        kept = run.stdout.strip() if run.returncode == 0 else "failed: " + run.stderr.strip()[-200:]
        print("%-16s %6d B  %s B" % (name, size, kept))


if __name__ == "__main__":
    sys.exit(main())
