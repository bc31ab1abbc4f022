"""Every test module of lib/ again, under the unix MicroPython binary with a bounded heap.

Property tests (test_*_props.py) use hypothesis, which MicroPython lacks: they
run on CPython only.
"""

import glob
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import testvectors as vectors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
# Small enough to catch a test (or the code under it) that holds whole files or
# telegrams; the heap figures themselves come from the benchmarks. test_ha's
# discovery test holds every config of two readers at once: it passes at 288K,
# and at 256K it sits on the edge (a few hundred bytes of imports decide).
HEAP = "288K"

MODULES = sorted(
    os.path.basename(p)[:-3]
    for p in glob.glob(os.path.join(ROOT, "tests", "lib", "test_*.py"))
    if not p.endswith("_props.py")
)


@pytest.fixture(scope="module", autouse=True)
def split_vectors():
    vectors.split_all()


@pytest.fixture(scope="module")
def lib_mpy(tmp_path_factory):
    """lib/ as .mpy, the way the board loads it: compiling the source would cost the
    heap a board never spends (the test modules themselves are still compiled). A
    fresh folder, so a module deleted from lib/ cannot linger as an old .mpy."""
    from metereye_tools.mpy import build_lib
    return build_lib(str(tmp_path_factory.mktemp("lib-mpy")))


@pytest.mark.parametrize("module", MODULES)
def test_lib_tests_pass_on_micropython(module, lib_mpy):
    env = dict(os.environ, MICROPYPATH=".frozen:" + lib_mpy + ":" + os.path.join(ROOT, "tests", "lib"))
    run = subprocess.run(
        [MICROPYTHON, "-X", "heapsize=" + HEAP, os.path.join(ROOT, "tests", "mp_run.py"), module],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " 0 failed" in out and "passed" in out, out
