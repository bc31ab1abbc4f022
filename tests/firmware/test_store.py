"""The flash queue (firmware/store.py) under the unix MicroPython binary: bounded,
ordered, surviving a restart and a torn last line."""

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
