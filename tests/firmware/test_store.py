"""The flash queue (firmware/store.py) under the unix MicroPython binary: bounded,
ordered, surviving a restart and a torn last line."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

SCRIPT = r"""
import os
from store import Store
from metereye.reading import Reading

step = os.getenv("STEP")
s = Store(max_readings=10)
if step == "fill":
    for i in range(15):
        s.append(Reading("m_1", 1000 + i, [("volume", "8.%03d" % i, "m\u00b3")]))
    print("pending", s.pending, "dropped", s.dropped)
elif step == "drain2":
    for _ in range(2):
        r = s.peek(); print("sent", r.seq, r.t, r.value("volume")); s.pop()
elif step == "drain":
    while True:
        r = s.peek()
        if r is None:
            break
        print("sent", r.seq, r.t, r.value("volume"), r.values[0][2] == "m\u00b3")
        s.pop()
    print("pending", s.pending, "dropped", s.dropped, "next", s.next_seq)
"""


def _run(folder, step):
    run = subprocess.run([MICROPYTHON, "-X", "heapsize=64K", "-c", SCRIPT], cwd=folder,
                         capture_output=True, text=True,
                         env=dict(os.environ, STEP=step,
                                  MICROPYPATH=".frozen:%s/lib:%s/firmware" % (ROOT, ROOT)))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.split("\n")


def test_queue_is_bounded_ordered_and_survives_restarts_and_torn_lines(tmp_path):
    out = _run(tmp_path, "fill")
    assert out[0] == "pending 10 dropped 5"          # the oldest five dropped, and counted
    out = _run(tmp_path, "drain2")                   # a new process: a reboot
    assert out[:2] == ["sent 6 1005 8.005", "sent 7 1006 8.006"]
    with open(tmp_path / "queue.jsonl", "a") as f:
        f.write('{"meter":"m_1","t":2000,"seq":99,"val')   # a power cut mid-write
    out = _run(tmp_path, "drain")
    sent = [line for line in out if line.startswith("sent")]
    assert [int(line.split()[1]) for line in sent] == list(range(8, 16))
    assert all(line.endswith("True") for line in sent)      # units survive, exact values too
    assert sent[0] == "sent 8 1007 8.007 True"
    assert "pending 0 dropped 5 next 16" in out


TARGETS = r"""
import os
from store import Store
from metereye.reading import Reading

step = os.getenv("STEP")
names = tuple(os.getenv("TARGETS").split(","))
s = Store(max_readings=10, targets=names)

def show():
    print("pending", s.pending, "dropped", s.dropped, "next", s.next_seq,
          " ".join("%s:%d" % (n, s.waiting(n)) for n in names))

def add(n):
    for _ in range(n):
        i = s.next_seq
        s.append(Reading("m_1", 1000 + i, [("volume", "8.%03d" % i, "m\u00b3")]))

if step == "add5":
    add(5)
    for name, sent in (("mqtt", 5), ("http", 2)):
        if name in names:
            for _ in range(sent):
                s.pop(name)
elif step == "add3":
    add(3)
elif step == "add8":
    batch = s.take("http", 3)                 # in flight while more readings come
    add(8)                                    # 11 wait for http: the oldest is dropped
    for r in batch:
        s.pop("http", r.seq)                  # the dropped one changes nothing
    print("batch", [r.seq for r in batch])
elif step == "drain":
    for n in names:
        seqs = []
        while True:
            r = s.peek(n)
            if r is None:
                break
            seqs.append("%d=%s" % (r.seq, r.value("volume")))
            s.pop(n)
        print(n, " ".join(seqs))
show()
"""


def _targets(folder, step, targets):
    run = subprocess.run([MICROPYTHON, "-X", "heapsize=64K", "-c", TARGETS], cwd=folder,
                         capture_output=True, text=True,
                         env=dict(os.environ, STEP=step, TARGETS=targets,
                                  MICROPYPATH=".frozen:%s/lib:%s/firmware" % (ROOT, ROOT)))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip().split("\n")


def _lines(folder):
    with open(os.path.join(folder, "queue.jsonl"), encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def test_each_target_keeps_its_own_place_and_a_line_leaves_only_when_all_have_it(tmp_path):
    out = _targets(tmp_path, "add5", "mqtt,http")
    assert out == ["pending 3 dropped 0 next 6 mqtt:0 http:3"]
    assert [json.loads(line)["seq"] for line in _lines(tmp_path)][-3:] == [3, 4, 5]
    # A reboot: http starts again at seq 3, mqtt has nothing to send.
    out = _targets(tmp_path, "show", "mqtt,http")
    assert out == ["pending 3 dropped 0 next 6 mqtt:0 http:3"]
    # http falls behind past max_readings while three are in flight: its oldest are
    # dropped (counted once), mqtt loses nothing, a confirmation of a dropped one is ignored.
    out = _targets(tmp_path, "add8", "mqtt,http")
    assert out == ["batch [3, 4, 5]", "pending 8 dropped 1 next 14 mqtt:8 http:8"], out
    out = _targets(tmp_path, "drain", "mqtt,http")
    assert out[0] == "mqtt " + " ".join("%d=8.%03d" % (i, i) for i in range(6, 14))
    assert out[1] == "http " + " ".join("%d=8.%03d" % (i, i) for i in range(6, 14))
    assert out[2] == "pending 0 dropped 1 next 14 mqtt:0 http:0"
    assert _lines(tmp_path) == []                      # everything out: the file starts afresh


def test_a_target_added_later_gets_what_is_still_on_flash_and_a_removed_one_holds_nothing(tmp_path):
    _targets(tmp_path, "add5", "mqtt,http")           # http still wants 3..5
    out = _targets(tmp_path, "show", "mqtt")          # http switched off: nothing waits for it
    assert out == ["pending 0 dropped 0 next 6 mqtt:0"]
    out = _targets(tmp_path, "add5", "mqtt")          # 6..10, all sent: http's place is forgotten
    assert out == ["pending 0 dropped 0 next 11 mqtt:0"] and _lines(tmp_path) == []
    _targets(tmp_path, "add3", "mqtt")                # 11..13 wait for mqtt
    # A target switched on (again) gets what is still on flash, from the oldest.
    out = _targets(tmp_path, "show", "mqtt,http")
    assert out == ["pending 3 dropped 0 next 14 mqtt:3 http:3"]


def test_a_queue_position_written_before_targets_had_names_is_read_as_every_targets(tmp_path):
    _run(tmp_path, "fill")                             # seqs 1..15, 6..15 kept
    _run(tmp_path, "drain2")                           # sent 6 and 7: the old format's one cursor
    with open(tmp_path / "queue.pos", "w") as f:
        f.write('{"seq": 7, "dropped": 5}')
    out = _targets(tmp_path, "show", "mqtt,http")
    assert out == ["pending 8 dropped 5 next 16 mqtt:8 http:8"]
