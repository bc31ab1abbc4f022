"""Benchmark: what a frozen broker costs the rest of the reader.

    .venv/bin/python tools/bench/frozen_broker.py [--freeze-s 20]

The firmware (from .mpy, on the unix port) reads a simulated Multical 21 every
2 s, publishes to Mosquitto and serves its page. The broker is then frozen
(SIGSTOP: TCP still connects, MQTT never answers) for --freeze-s seconds and
thawed. Prints (asserts nothing):
- how long GET /api/status took, asked every 0.2 s, before and during the freeze
  (median and largest): time the event loop spent blocked shows up here;
- the meter sessions the reader finished during the freeze, and the largest
  gap between two of them (the schedule asks every 2 s);
- how long after the thaw the first reading reached a subscriber, and whether
  every reading read arrived once and in order.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from fwhelp import Recorder  # noqa: E402
from simhelp import Sim  # noqa: E402

from metereye_tools.broker import free_port, start_broker  # noqa: E402
from metereye_tools.unixport import Firmware  # noqa: E402


def _status_ms(base):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(base + "/api/status", timeout=30) as f:
            json.loads(f.read())
    except OSError:
        return None
    return (time.monotonic() - start) * 1000


def _poll(base, seconds):
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ms = _status_ms(base)
        times.append(ms if ms is not None else float("inf"))
        time.sleep(0.2)
    return sorted(times)


def _sessions(console):
    """Monotonic-ish times of finished sessions, from the console's "read N values" lines."""
    return [int(t) for t in re.findall(r"^(\d+) I \S+: read \d+ values", console, re.M)]


def main():
    freeze_s = float(sys.argv[sys.argv.index("--freeze-s") + 1]) if "--freeze-s" in sys.argv else 20.0
    flash = tempfile.mkdtemp(prefix="metereye-frozen-")
    shutil.copytree(os.path.join(ROOT, "firmware", "www"), os.path.join(flash, "www"))
    broker = start_broker()
    rec = Recorder(broker)
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    with Sim("multical21", "--speed", "60") as sim:
        fw = Firmware(flash, mpy=True)
        fw.write_config({"reader_id": "bench", "test_intervals": True,
                         "mqtt": {"host": broker.host, "port": broker.port},
                         "meters": [{"model": "multical21", "port": sim.port, "interval_s": 2, "budget": 1440}],
                         "web": {"enabled": True, "port": port, "password": "bench-password"}})
        fw.start()
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and len(rec.states()) < 2:
                time.sleep(0.2)
            before = _poll(base, 6)
            n_console = len(fw.console())
            broker.pause()
            frozen_at = time.time()
            during = _poll(base, freeze_s)
            broker.resume()
            thawed = time.monotonic()
            count = len(rec.states())
            while time.monotonic() - thawed < 120 and len(rec.states()) <= count:
                time.sleep(0.1)
            first_after = time.monotonic() - thawed if len(rec.states()) > count else None
            time.sleep(8)
            console = fw.console()
        finally:
            fw.stop()
    rec.close()
    broker.close()
    shutil.rmtree(flash, ignore_errors=True)
    sessions = [t for t in _sessions(console[n_console:]) if t >= int(frozen_at)]
    sessions = [t for t in sessions if t <= int(frozen_at + freeze_s)]
    gaps = [b - a for a, b in zip(sessions, sessions[1:])]
    seqs = [s["seq"] for s in rec.states()]

    def fmt(times):
        finite = [t for t in times if t != float("inf")]
        failed = len(times) - len(finite)
        return "median %.0f ms, largest %.0f ms (%d requests%s)" % (
            finite[len(finite) // 2] if finite else -1, finite[-1] if finite else -1, len(times),
            ", %d failed" % failed if failed else "")

    print("GET /api/status before the freeze: " + fmt(before))
    print("GET /api/status while the broker is frozen (%.0f s): %s" % (freeze_s, fmt(during)))
    print("meter sessions finished during the freeze: %d (every 2 s asked), largest gap %s s"
          % (len(sessions), max(gaps) if gaps else "-"))
    print("first reading at the subscriber after the thaw: %s" %
          ("%.1f s" % first_after if first_after is not None else "none within 120 s"))
    twice = len(seqs) - len(set(seqs))
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)) if seqs else []
    print("readings received: %d (seq %s to %s), delivered twice: %d (a QoS 1 resend after a lost "
          "PUBACK; a consumer drops them by seq), missing: %s" % (
              len(seqs), seqs[0] if seqs else "-", seqs[-1] if seqs else "-", twice, missing or "none"))


if __name__ == "__main__":
    main()
