"""Benchmark: the reader firmware with its web page, loaded from .mpy on the unix port.

    .venv/bin/python tools/bench/web_heap.py [--quick] [--browser] [--heap 224K]

Prints (asserts nothing):
- the smallest `-X heapsize=` at which the firmware reads a simulated
  Multical 21 every 5 s, publishes each reading to Mosquitto, and serves 100
  page loads meanwhile, every one answered (a page load is what the page
  fetches when it opens: /, /api/status, /api/readings, /api/config,
  /api/models, /api/history; with --browser, 100 loads in headless Chromium);
- at each heap tried: the largest live heap /api/status reported while
  serving (it collects first), the largest live heap the firmware saw after
  its own collections every 10 s (its "heap peak"), readings published
  during the loads;
- the same firmware with the page off (web.enabled false), for comparison.
With --heap, only that heap size is tried (with the page). The unix port is
64-bit: its objects are larger than the ESP32's, so the heap figures are upper
bounds for the board.
"""

import json
import os
import re
import shutil
import socket
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

from metereye_tools.broker import start_broker  # noqa: E402
from metereye_tools.unixport import Firmware  # noqa: E402

LOADS = 100
PACE_S = 0.3        # between page loads: 30 s of serving, ~6 readings read and published meanwhile
PAGE_LOAD = ("/", "/api/status", "/api/readings", "/api/config", "/api/models", "/api/history")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _get(base, path):
    with urllib.request.urlopen(base + path, timeout=15) as f:
        body = f.read()
        return f.status, body


def _wait_up(base, fw, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end and fw.proc.poll() is None:
        try:
            if _get(base, "/api/status")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _loads_http(base, status_seen):
    failed = 0
    for i in range(LOADS):
        time.sleep(PACE_S)
        for path in PAGE_LOAD:
            try:
                status, body = _get(base, path)
            except OSError:
                failed += 1
                continue
            if status != 200:
                failed += 1
            elif path == "/api/status":
                try:
                    status_seen.append(json.loads(body)["reader"]["heap_used"])
                except ValueError:      # an answer cut short (a MemoryError while it streamed)
                    failed += 1
    return failed


def _loads_browser(base, status_seen):
    from playwright.sync_api import sync_playwright
    failed = 0
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = b.new_page()
        bad = []
        page.on("response", lambda r: bad.append(r.url) if r.status != 200 else None)
        page.on("requestfailed", lambda r: bad.append(r.url))
        for _ in range(LOADS):
            time.sleep(PACE_S)
            try:
                page.goto(base + "/")
                page.wait_for_selector("section.meter", timeout=15000)
                page.wait_for_load_state("networkidle", timeout=15000)
            except Exception:
                failed += 1
        failed += len(bad)
        b.close()
    try:
        status_seen.append(json.loads(_get(base, "/api/status")[1])["reader"]["heap_used"])
    except OSError:             # urllib's HTTPError too: a 500 from a MemoryError
        failed += 1
    return failed


def run(heap, web=True, browser=False):
    """A dict of what happened at one heap size."""
    flash = tempfile.mkdtemp(prefix="metereye-webbench-")
    # What a deploy puts on the board's flash beside the code: the page.
    shutil.copytree(os.path.join(ROOT, "firmware", "www"), os.path.join(flash, "www"))
    broker = start_broker()
    rec = Recorder(broker)
    port = _free_port()
    base = "http://127.0.0.1:%d" % port
    out = {"heap": heap, "ran": False, "failed": None, "published_during": 0, "most_used": None}
    with Sim("multical21", "--speed", "60") as sim:
        fw = Firmware(flash, heap=heap, mpy=True)
        fw.write_config({"reader_id": "bench", "test_intervals": True,
                         "mqtt": {"host": broker.host, "port": broker.port},
                         "meters": [{"model": "multical21", "port": sim.port, "interval_s": 5}],
                         "web": {"enabled": web, "port": port, "password": "bench-password"}})
        fw.start()
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and not rec.states() and fw.proc.poll() is None:
                time.sleep(0.2)
            if rec.states() and (not web or _wait_up(base, fw)):
                before = len(rec.states())
                start = time.monotonic()
                seen = []
                if web:
                    out["failed"] = (_loads_browser if browser else _loads_http)(base, seen)
                else:
                    time.sleep(20)
                    out["failed"] = 0
                # Reading and publishing go on while serving: at least one more reading.
                end = time.monotonic() + 12
                while len(rec.states()) <= before and time.monotonic() < end:
                    time.sleep(0.2)
                out["seconds"] = time.monotonic() - start
                out["published_during"] = len(rec.states()) - before
                out["most_used"] = max(seen) if seen else None
                out["ran"] = fw.proc.poll() is None
        finally:
            fw.stop()
    rec.close()
    broker.close()
    console = fw.console()
    peaks = [int(p) for p in re.findall(r"heap peak (\d+)", console)]
    out["peak"] = max(peaks) if peaks else None
    out["memory_error"] = "MemoryError" in console
    if out["memory_error"]:
        # Where the first allocation failed: the last frames of its traceback.
        head = console[:console.index("MemoryError")].rsplit("Traceback", 1)[-1]
        out["where"] = " < ".join(line.strip() for line in head.strip().split("\n")[-3:])
    out["ok"] = (out["ran"] and out["failed"] == 0 and out["published_during"] > 0
                 and not out["memory_error"])
    shutil.rmtree(flash, ignore_errors=True)
    return out


def _line(r):
    return ("  -X heapsize=%-5s %s: failed requests %s, readings published meanwhile %d, "
            "live heap in /api/status at most %s B, the firmware's live peak %s B%s" % (
                r["heap"], "ran   " if r["ok"] else "FAILED", r["failed"], r["published_during"],
                r["most_used"], r["peak"],
                ", MemoryError in %s" % r.get("where") if r["memory_error"] else ""))


def smallest(sizes, **kw):
    best = None
    for kb in sizes:
        r = run("%dK" % kb, **kw)
        print(_line(r), flush=True)
        if not r["ok"]:
            break
        best = r
    return best


def main():
    quick = "--quick" in sys.argv
    browser = "--browser" in sys.argv
    how = "headless Chromium" if browser else "HTTP, the page's own requests"
    print("Firmware from .mpy, a Multical 21 read every 5 s and published, %d page loads (%s):" % (LOADS, how))
    if "--heap" in sys.argv:
        print(_line(run(sys.argv[sys.argv.index("--heap") + 1], browser=browser)))
        return
    r = run("512K", browser=browser)
    print(_line(r))
    sizes = [256, 240, 224, 208, 200, 192, 184, 176, 168, 160] if not quick else [224, 192]
    best = smallest(sizes, browser=browser)
    if best:
        print("Smallest heap that read, published and served every load: %s" % best["heap"])
    print("\nThe same with the page off (web.enabled false), 20 s of reading and publishing:")
    sizes = [176, 168, 160, 152, 144, 136, 128] if not quick else [160, 144]
    best = smallest(sizes, web=False)
    if best:
        print("Smallest heap without the page: %s" % best["heap"])


if __name__ == "__main__":
    main()
