"""Benchmark: the device set's size, a full, an incremental and an unchanged
`metereye deploy` to the unix-port stand-in, the smallest heap a full deploy
works in, the update bundle's size, and an update pushed over HTTP to the
deployed reader's page until it keeps the new set.

    .venv/bin/python tools/bench/deploy_bench.py

Prints figures; asserts nothing. The stand-in runs under socat on a pty, so the
times show mpremote's own work (one exec per 256-byte chunk, hashing on the
board) but not a real board's 115200 Bd line. "On the wire" estimates that
line: mpremote sends each 256-byte chunk as a bytes literal in an exec, and a
byte takes 87 µs at 115200 Bd 8N1.
"""

import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from metereye_tools import bundle, deploy_plan  # noqa: E402
from metereye_tools.broker import free_port, start_broker  # noqa: E402
from metereye_tools.cliutil import CommandError  # noqa: E402
from metereye_tools.standin import StandIn, socat_path  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from simhelp import Sim  # noqa: E402


UPDATE_HEAPS = ("320K", "256K", "240K", "224K", "208K")
# From the heap tests/deploy holds deploy to (96K) down until a deploy fails.
DEPLOY_HEAPS = ("96K", "64K", "48K", "32K", "24K", "20K", "16K", "12K")


def kb(n):
    return "%s bytes (%.1f KB)" % (format(n, ","), n / 1024)


def wire_bytes(plan):
    """What mpremote writes for the files a deploy sends: `w(b'…')` per 256-byte chunk."""
    total = 0
    for f in plan.send + plan.roots:
        with open(f.local, "rb") as fh:
            data = fh.read()
        total += sum(len("w(%r)\r\x04" % data[i:i + 256]) for i in range(0, len(data), 256))
    return total


def timed_deploy(port, tree=None):
    start = time.monotonic()
    plan = deploy_plan.deploy(port, tree=tree, reset=False, out=lambda *a: None)
    return time.monotonic() - start, plan


def changed_tree(base):
    """This checkout with one module changed (log.py), as after a small fix."""
    tree = os.path.join(base, "tree")
    for top in ("lib", "firmware"):
        shutil.copytree(os.path.join(ROOT, top), os.path.join(tree, top),
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(tree, "firmware", "log.py"), "a") as f:
        f.write("\n_BENCH_CHANGE = 1\n")
    return tree


def deploy_at(base, heap):
    """A full deploy onto a fresh stand-in started with `-X heapsize=heap`; None when
    it worked, else why it failed."""
    board = StandIn(os.path.join(base, "deploy-" + heap), heap=heap).start()
    try:
        deploy_plan.deploy(board.port, reset=False, out=lambda *a: None)
        return None
    except CommandError as e:
        return str(e).splitlines()[-1][-200:]
    finally:
        board.remove()


def timed_update(flash, base, heap):
    """`metereye update`'s push to a deployed reader's page while it reads a simulated
    Multical 21, on a stand-in with a copy of `flash` and `-X heapsize=heap`, until
    the reader keeps the new set; (the figures line, the console if it failed)."""
    board = StandIn(os.path.join(base, "update-" + heap), heap=heap)
    shutil.rmtree(board.flash)
    shutil.copytree(flash, board.flash)
    broker = start_broker()
    port = free_port()
    password = "bench-password"
    try:
        with Sim("multical21", "--speed", "60") as sim:
            with open(os.path.join(board.flash, "config.json"), "w") as f:
                json.dump({"reader_id": "bench", "mqtt": {"host": broker.host, "port": broker.port},
                           "test_intervals": True,
                           "meters": [{"model": "multical21", "port": sim.port, "interval_s": 5, "budget": 1440}],
                           "web": {"enabled": True, "port": port, "password": password}}, f)
            board.start()
            board.wait_for("read 11 values", 30)
            with open(os.path.join(board.flash, "update.key")) as f:
                key = bytes.fromhex(f.read().strip())
            data = bundle.make_bundle(bundle.build_set(), key)      # this checkout: not the running set
            n = len(board.console())
            start = time.monotonic()
            ok, message = bundle.push("127.0.0.1:%d" % port, password, data)
            answered = time.monotonic() - start
            if not ok:
                return "refused: " + message, board.console()[n:]
            try:
                board.wait_for("is healthy: kept", 60, n)
            except Exception:
                return "not kept", board.console()[n:]
            return ("%s sent, verified, staged and answered in %.2f s, new set kept %.1f s after the upload "
                    "began" % (kb(len(data)), answered, time.monotonic() - start)), None
    finally:
        board.remove()
        broker.close()


def main():
    files = bundle.build_set()
    roots = bundle.root_files()
    parts = {}
    for f in files:
        parts.setdefault(f.part, []).append(f.size)
    print("device set (%s): %d files, %s of .mpy" % (
        "mpy-cross " + bundle.compiler_version().split(" on ")[0], len(files), kb(sum(f.size for f in files))))
    for part in ("lib", "firmware", "deps"):
        sizes = parts.get(part, [])
        print("  %-9s %3d files  %s" % (part, len(sizes), kb(sum(sizes))))
    print("  outside the sets (boot.py, main.py, lib/startup.mpy): %s" % kb(sum(f.size for f in roots)))
    data = bundle.make_bundle(files, bytes(32))
    print("update bundle: %s (header 40, manifest %d, files %d)" % (
        kb(len(data)), len(bundle.manifest_bytes(files)), sum(f.size for f in files)))

    if socat_path() is None:
        print("socat is not installed: no deploy figures (apt-get install socat)")
        return
    base = tempfile.mkdtemp(prefix="metereye-bench-")
    os.environ["METEREYE_KEYS"] = os.path.join(base, "keys.json")
    board = StandIn(os.path.join(base, "board")).start()
    try:
        for name, tree in (("full (fresh board)", None), ("unchanged", None),
                           ("incremental (log.py changed)", changed_tree(base))):
            seconds, plan = timed_deploy(board.port, tree)
            idle = plan.nothing_to_do()
            files_sent = 0 if idle else len(plan.send) + len(plan.roots)
            wire = 0 if idle else wire_bytes(plan)
            print("deploy, %-29s %5.1f s, %2d files, %s sent%s; on the wire ~%s, ~%.0f s at 115200 Bd" % (
                name, seconds, files_sent, kb(0 if idle else plan.bytes_sent()),
                " (%d copied on the board)" % len(plan.copies) if plan.copies and not idle else "",
                format(wire, ","), wire * 10 / 115200))
        board.stop()
        smallest = None
        for heap in DEPLOY_HEAPS:
            failed = deploy_at(base, heap)
            print("full deploy onto a fresh stand-in with -X heapsize=%s: %s" % (heap, failed or "works"))
            if failed:
                break
            smallest = heap
        print("smallest -X heapsize= a full deploy works at: %s" % (smallest or "none of %s" % ", ".join(DEPLOY_HEAPS)))
        # From roomy down past the smallest heap the page runs in (240K, tools/bench/web_heap.py).
        for heap in UPDATE_HEAPS:
            line, failed = timed_update(board.flash, base, heap)
            print("update over HTTP to the page, reading a meter meanwhile, -X heapsize=%s: %s" % (heap, line))
            if failed:
                print("  " + failed[-400:].replace("\n", "\n  "))
                break
    finally:
        board.remove()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
