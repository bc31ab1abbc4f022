"""Benchmark: the reader firmware on the unix port, loaded from .mpy.

    .venv/bin/python tools/bench/firmware_heap.py [--quick]

Prints (asserts nothing):
- the size of the .mpy set a board receives (lib, firmware, dependencies);
- the time from start to the first reading published over MQTT;
- the smallest `-X heapsize=` at which the firmware runs a simulated day of a
  Multical 21 at its default schedule (hourly) with publishing — the clock runs
  3600x (METEREYE_CLOCK_SCALE), the simulated meter with it — and the peak heap
  it reported there;
- optical sessions per day under each model's default schedule.
The unix port is 64-bit: its objects are larger than the ESP32's, so the heap
figures are upper bounds for the board.
"""

import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from fwhelp import Recorder  # noqa: E402
from simhelp import Sim  # noqa: E402

from metereye import meters  # noqa: E402
from metereye.schedule import Schedule, parse_times  # noqa: E402
from metereye_tools.broker import start_broker  # noqa: E402
from metereye_tools.unixport import Firmware, build_device_mpy  # noqa: E402

SCALE = 3600
DAY_S = 86400 / SCALE + 4          # a simulated day, plus start-up


def mpy_sizes():
    out = build_device_mpy()
    parts = {"lib (metereye)": 0, "firmware": 0, "umqtt.simple": 0, "microdot (not loaded yet)": 0}
    for folder, _, files in os.walk(out):
        for name in files:
            path = os.path.join(folder, name)
            size = os.path.getsize(path)
            rel = os.path.relpath(path, out)
            if rel.startswith("app/"):
                if name in ("main.mpy", "boot.mpy"):
                    continue        # those stay one-line .py stubs on a board
                parts["firmware"] += size
            elif "/umqtt/" in "/" + rel:
                parts["umqtt.simple"] += size
            elif "/microdot/" in "/" + rel:
                parts["microdot (not loaded yet)"] += size
            else:
                parts["lib (metereye)"] += size
    return parts


def run_day(heap, scale=SCALE, seconds=DAY_S):
    """(ran, readings published, seconds to the first, reported peak, console tail)."""
    flash = tempfile.mkdtemp(prefix="metereye-bench-")
    broker = start_broker()
    rec = Recorder(broker)
    with Sim("multical21", "--speed", str(scale)) as sim:
        fw = Firmware(flash, heap=heap, mpy=True)
        fw.write_config({"reader_id": "bench", "mqtt": {"host": broker.host, "port": broker.port},
                         "meters": [{"model": "multical21", "port": sim.port}],
                         # The page off: its heap is web_heap.py's to measure (it is on by default).
                         "web": {"enabled": False}})
        os.environ["METEREYE_CLOCK_SCALE"] = str(scale)
        start = time.monotonic()
        fw.start()
        del os.environ["METEREYE_CLOCK_SCALE"]
        first = None
        while time.monotonic() - start < seconds:
            if first is None and rec.states():
                first = time.monotonic() - start
            if fw.proc.poll() is not None:
                break
            time.sleep(0.1)
        ran = fw.proc.poll() is None
        fw.stop()
    readings = len(rec.states())
    rec.close()
    broker.close()
    console = fw.console()
    peaks = [int(p) for p in re.findall(r"heap peak (\d+)", console)]
    if "MemoryError" in console:
        ran = False
    return ran, readings, first, max(peaks) if peaks else None, console[-600:]


def sessions_per_day():
    rows = []
    for name, protocol, _, _ in meters.MODELS:
        m = meters.details(name)
        s = Schedule(m.interval_s, m.sessions_per_day, parse_times([]))
        t = s.first_due(0)
        n = 0
        while t < 86400:
            if s.may_start(t, 0):
                s.started(t, 0)
                s.finished("ok", t)
                n += 1
            t = s.next_s
        rows.append((name, protocol, m.interval_s, m.sessions_per_day, n))
    return rows


def main():
    quick = "--quick" in sys.argv
    print("Device set (.mpy, bytecode, loads on any MicroPython >= 1.22):")
    total = 0
    for part, size in mpy_sizes().items():
        print("  %-28s %7d B" % (part, size))
        total += size
    print("  %-28s %7d B" % ("total", total))

    ran, n, first, peak, _ = run_day("512K", seconds=10)
    print("\nStart to first reading published (512K heap): %.2f s" % first if first else
          "\nno reading published within 10 s")

    print("\nA simulated day of a Multical 21 at its default schedule (hourly), clock x%d:" % SCALE)
    sizes = [192, 160, 144, 136, 128, 120, 112, 104, 96] if not quick else [160, 136]
    smallest = None
    for kb in sizes:
        ran, n, first, peak, tail = run_day("%dK" % kb)
        print("  -X heapsize=%dK: %s, %d readings published, live heap peak %s B" % (
            kb, "ran" if ran and n >= 20 else "FAILED", n, peak))
        if ran and n >= 20:
            smallest = (kb, peak)
        else:
            break
    if smallest:
        print("Smallest heap that ran the day: %dK (largest live heap after a collection: %s B)" % smallest)

    print("\nOptical sessions per day under the default schedule:")
    for name, protocol, interval, budget, n in sessions_per_day():
        print("  %-16s %-6s every %6d s  budget %4d  -> %3d sessions" % (name, protocol, interval, budget, n))


if __name__ == "__main__":
    main()
