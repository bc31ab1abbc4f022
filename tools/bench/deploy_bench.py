"""Benchmark: the device set's size, a full, an incremental and an unchanged
`metereye deploy` to the unix-port stand-in, and the update bundle's size.

    .venv/bin/python tools/bench/deploy_bench.py

Prints figures; asserts nothing. The stand-in runs under socat on a pty, so the
times show mpremote's own work (one exec per 256-byte chunk, hashing on the
board) but not a real board's 115200 Bd line. "On the wire" estimates that
line: mpremote sends each 256-byte chunk as a bytes literal in an exec, and a
byte takes 87 µs at 115200 Bd 8N1.
"""

import os
import shutil
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from metereye_tools import bundle, deploy  # noqa: E402
from metereye_tools.standin import StandIn, socat_path  # noqa: E402


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
    plan = deploy.deploy(port, tree=tree, reset=False, out=lambda *a: None)
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
    finally:
        board.remove()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
