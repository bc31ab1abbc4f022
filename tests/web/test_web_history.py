"""firmware/history.py on the unix MicroPython binary (where it runs): a bounded
ring on flash that survives a restart and a torn last line."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

PRELUDE = """
from history import History
from metereye.reading import Reading
def counters(meter_id, key):
    return key == "volume"
def reading(i, t=None):
    r = Reading("m1" if i % 2 else "m2", t, [("volume", "%d.%03d" % (800 + i // 1000, i % 1000), "m\\u00b3"),
                                            ("temp", "21", "C")], i)
    r.up, r.boot = 5 * i, 7
    return r
"""


def _run(flash, code):
    env = dict(os.environ, MICROPYPATH=":".join([".frozen", os.path.join(ROOT, "lib"),
                                                  os.path.join(ROOT, "firmware")]))
    run = subprocess.run([MICROPYTHON, "-X", "heapsize=64K", "-c", PRELUDE + code], cwd=flash, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _lines(flash):
    with open(os.path.join(flash, "history.jsonl"), encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def test_the_ring_never_holds_more_than_its_bound_and_keeps_the_newest(tmp_path):
    flash = str(tmp_path)
    out = _run(flash, """
h = History(is_counter=counters)
for i in range(1, 451):
    h.add(reading(i, 1700000000 + 60 * i))
    assert h.lines <= History.MAX_LINES, h.lines
print(h.lines, History.MAX_LINES, History.KEEP_LINES)
""")
    count, most, keep = map(int, out.split())
    lines = _lines(flash)
    assert len(lines) == count and keep <= count <= most
    entries = [json.loads(line) for line in lines]
    assert entries[-1]["seq"] == 450 and entries[-1]["t"] == 1700000000 + 60 * 450
    assert [e["seq"] for e in entries] == list(range(451 - count, 451))
    # Only the counters, as exact strings with their unit.
    assert entries[-1]["values"] == {"volume": "800.450"} and entries[-1]["units"] == {"volume": "m³"}


def test_it_survives_a_restart_and_a_torn_last_line(tmp_path):
    flash = str(tmp_path)
    _run(flash, """
h = History(is_counter=counters)
for i in range(1, 11):
    h.add(reading(i, 1700000000 + i))
h.add(reading(11))              # before the clock was set: uptime and boot instead
""")
    with open(os.path.join(flash, "history.jsonl"), "a") as f:
        f.write('{"meter":"m1","t":17000')          # the power went mid-append
    out = _run(flash, """
h = History(is_counter=counters)
print(h.lines)
print("".join(h.chunks()))
print("".join(h.chunks("m1")))
""")
    count, everything, only_m1 = out.strip().split("\n")
    assert int(count) == 11 and len(_lines(flash)) == 11
    entries = json.loads(everything)["entries"]
    assert len(entries) == 11
    assert entries[-1]["t"] is None and entries[-1]["up"] == 55 and entries[-1]["boot"] == 7
    assert [e["meter"] for e in json.loads(only_m1)["entries"]] == ["m1"] * 6


def test_streaming_a_long_history_comes_in_pieces_that_join_to_valid_json(tmp_path):
    flash = str(tmp_path)
    out = _run(flash, """
h = History(is_counter=counters)
for i in range(1, 201):
    h.add(reading(i, 1700000000 + i))
pieces = 0
size = 0
for piece in h.chunks():
    pieces += 1
    size = max(size, len(piece))
print(pieces, size)
""")
    pieces, largest = map(int, out.split())
    assert pieces > 5 and largest < 2 * 1024, (pieces, largest)
