"""The device code type-checked against the ESP32 firmware's own modules.

    python tools/typecheck/device_types.py --install    (tools/setup.sh --test runs it)
    python tools/typecheck/device_types.py [BOARD ...]  (default: every board below)

Everything a board imports (firmware/*.py but hw_unix.py, and the metereye package
from lib/) is checked with mypy against the type stubs generated from the stock
MicroPython firmware of each board: a module, function, method, keyword or
constant the firmware lacks is an error. The modules are found as the board finds
them: firmware/ at the top, then lib/ and the third-party code of build/deps (a
code set's lib/), then the firmware's own modules; hw.py takes its
`sys.platform == "esp32"` branch.

The stub packages replace CPython's standard library for a type checker, so they
never go into .venv: pip installs each into a folder of its own, and --install turns
that into a typeshed folder (build/stubs/BOARD/typeshed) that mypy is given with
--custom-typeshed-dir. There the board's modules (machine, network, socket, ...)
sit beside its reduced stdlib, so mypy reads them as a library: the stubs' own
flaws are not reported, and a module of ours that takes a board module's name is
("shadows library module").
"""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tools", "typecheck")
CONFIG = os.path.join(HERE, "mypy-esp32.ini")
FIRMWARE = os.path.join(ROOT, "firmware")
LIB = os.path.join(ROOT, "lib")
DEPS = os.path.join(ROOT, "build", "deps")
STUBS = os.path.join(ROOT, "build", "stubs")

STUBS_VERSION = "1.29.0.post1"
STDLIB_STUBS = "micropython-stdlib-stubs==1.29.0.post2"   # what the board packages require (~=1.29.0)
BOARDS = {   # our name: the stub package of the stock firmware for that board
    "esp32": "micropython-esp32-esp32-generic-stubs",
    "esp32-c3": "micropython-esp32-esp32-generic-c3-stubs",
    "esp32-s3": "micropython-esp32-esp32-generic-s3-stubs",
}
NOT_ON_BOARD = ("hw_unix",)   # hw.py imports it only off the ESP32
# Board modules our code set replaces, so their stubs are left out:
# - ussl: firmware/ussl.py (1.23+ firmware has ssl only; umqtt.simple 1.3.4 imports ussl);
# - umqtt: the set's lib/umqtt (build/deps, 1.3.4) comes before .frozen on sys.path (startup.py).
OURS_OVER_STUBS = ("ussl", "umqtt")


class StubsMissing(Exception):
    """A board's stubs are not installed: the message says how to install them."""


def requirements(board):
    return [BOARDS[board] + "==" + STUBS_VERSION, STDLIB_STUBS]


def typeshed_dir(board):
    return os.path.join(STUBS, board, "typeshed")


def _stamp(board):
    return os.path.join(STUBS, board, "installed.txt")


def installed(board):
    try:
        with open(_stamp(board)) as f:
            return f.read() == "\n".join(requirements(board))
    except FileNotFoundError:
        return False


def _make_typeshed(site, out):
    """A typeshed folder from a stub install: its stdlib, plus every board module added to it."""
    shutil.copytree(os.path.join(site, "stdlib"), os.path.join(out, "stdlib"))
    shutil.copytree(os.path.join(site, "stubs"), os.path.join(out, "stubs"))
    added = []
    for name in sorted(os.listdir(site)):
        path = os.path.join(site, name)
        if name.endswith(".pyi"):
            module = name[:-4]
        elif os.path.isfile(os.path.join(path, "__init__.pyi")) and name != "stdlib":
            module = name
        else:
            continue                    # dist-info, licence, the stdlib and stubs folders
        if module in OURS_OVER_STUBS:
            continue
        target = os.path.join(out, "stdlib", name)
        if os.path.exists(target):     # the board's version of a stdlib module wins
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
        (shutil.copytree if os.path.isdir(path) else shutil.copyfile)(path, target)
        added.append(module)
    versions = os.path.join(out, "stdlib", "VERSIONS")
    with open(versions) as f:
        listed = {line.split(":")[0].strip() for line in f if ":" in line}
    with open(versions, "a") as f:
        # mypy looks a stdlib module up only if VERSIONS names it
        f.writelines("%s: 3.0-\n" % m for m in added if m not in listed)


def install(board):
    """Install `board`'s stubs into build/stubs/BOARD (nothing to do when they are there)."""
    if installed(board):
        return
    folder = os.path.join(STUBS, board)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with tempfile.TemporaryDirectory(dir=folder) as site:
        run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
                              "--no-deps", "--target", site] + requirements(board),
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise StubsMissing("pip could not install %s:\n%s"
                               % (" ".join(requirements(board)), run.stdout + run.stderr))
        _make_typeshed(site, typeshed_dir(board))
    with open(_stamp(board), "w") as f:
        f.write("\n".join(requirements(board)))


def device_modules():
    """The top-level modules of firmware/ that the board runs."""
    return sorted(name[:-3] for name in os.listdir(FIRMWARE)
                  if name.endswith(".py") and name[:-3] not in NOT_ON_BOARD)


def check(board, extra_path=(), extra_modules=()):
    """(mypy's exit status, its report) for the device set on `board`.

    extra_path/extra_modules add modules to the set (the test's probe).
    """
    if not installed(board):
        raise StubsMissing("the %s stubs are not installed: run tools/setup.sh --test "
                           "(or python tools/typecheck/device_types.py --install)" % board)
    args = [sys.executable, "-m", "mypy", "--config-file", CONFIG,
            "--custom-typeshed-dir", typeshed_dir(board),
            "--cache-dir", os.path.join(STUBS, board, "mypy-cache")]
    for module in device_modules() + list(extra_modules):
        args += ["-m", module]
    args += ["-p", "metereye"]
    env = dict(os.environ, MYPYPATH=os.pathsep.join(list(extra_path) + [FIRMWARE, LIB, DEPS]))
    run = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    return run.returncode, (run.stdout + run.stderr).strip()


def main(argv):
    if argv[:1] == ["--install"]:
        for board in BOARDS:
            install(board)
        return 0
    unknown = [board for board in argv if board not in BOARDS]
    if unknown:
        print("unknown board %s: one of %s, or --install" % (", ".join(unknown), ", ".join(BOARDS)))
        return 2
    failed = 0
    for board in argv or list(BOARDS):
        status, report = check(board)
        print("%s: %s" % (board, report))
        failed += status != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
