"""Pieces for the deploy and update tests: the stand-in board, changed copies of
the source tree, the simulated meter with a real broker, and the updater driven
directly under unix MicroPython."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from fwhelp import Recorder, need_mosquitto  # noqa: E402,F401
from simhelp import Sim  # noqa: E402

from metereye_tools.broker import start_broker  # noqa: E402
from metereye_tools.standin import StandIn, socat_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
METEREYE = os.path.join(BIN, "metereye")
MICROPYTHON = os.path.join(BIN, "micropython")


def need_socat():
    if socat_path() is None:
        if os.environ.get("CI"):
            pytest.fail("socat is not installed (tools/test.sh installs it as root)")
        pytest.skip("socat is not installed: run tools/test.sh as root, or apt-get install socat")


def metereye(*args, env=None, timeout=300):
    """The console script; (exit status, stdout, stderr)."""
    run = subprocess.run([METEREYE, *args], capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, **(env or {})))
    return run.returncode, run.stdout, run.stderr


def make_tree(base, edits=None, mark=None):
    """A copy of lib/ and firmware/ under base. `mark` adds a constant to every
    set module, so each compiles differently (not boot.py/main.py: they stay one line).
    `edits` maps a path to a function of its text."""
    tree = os.path.join(base, "tree")
    for top in ("lib", "firmware"):
        shutil.copytree(os.path.join(ROOT, top), os.path.join(tree, top),
                        ignore=shutil.ignore_patterns("__pycache__"))
    if mark is not None:
        for folder, _, files in os.walk(tree):
            for name in files:
                if name.endswith(".py") and name not in ("boot.py", "main.py"):
                    with open(os.path.join(folder, name), "a") as f:
                        f.write("\n_DEPLOY_MARK = %r\n" % mark)
    for rel, change in (edits or {}).items():
        path = os.path.join(tree, rel)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(change(text))
    return tree


def set_version(version):
    """An edit of firmware/runtime.py: the version the reader reports in discovery (sw_version)."""
    def change(text):
        changed, n = re.subn(r'^VERSION = ".*"$', 'VERSION = "%s"' % version, text, flags=re.M)
        assert n == 1, "runtime.py has no VERSION line"
        return changed
    return change


def snapshot(folder):
    """{relative path: sha256} of every file under folder."""
    found = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


def read_json(path):
    with open(path) as f:
        return json.load(f)


def set_is_consistent(flash, slot):
    """The set's files are exactly its manifest's, each with its sha256."""
    m = read_json(os.path.join(flash, "sets", slot, "manifest.json"))
    listed = {e[0]: e[2] for e in m["files"]}
    there = snapshot(os.path.join(flash, "sets", slot))
    there.pop("manifest.json")
    return there == listed, m["set"]


class World:
    """A simulated Multical 21 (with its magnet), a real Mosquitto and a recorder."""

    def __init__(self, flash_dir):
        need_mosquitto()
        self.magnet = os.path.join(flash_dir, "..", "magnet")
        self.sim = Sim("multical21", "--speed", "60", "--magnet-file", self.magnet)
        self.broker = start_broker(persistent=True)
        self.recorder = Recorder(self.broker)

    def config(self, reader_id="deploy-test", **extra):
        cfg = {"reader_id": reader_id, "test_intervals": True,
               "mqtt": {"host": self.broker.host, "port": self.broker.port},
               "meters": [{"model": "multical21", "port": self.sim.port, "interval_s": 3, "budget": 1440,
                           "wake": {"file": self.magnet, "pulse_ms": 50}}],
               "web": {"enabled": False}}
        cfg.update(extra)
        return cfg

    def update_status(self, reader_id="deploy-test"):
        """The last retained update status the reader published, or None."""
        got = self.recorder.where("%s/update" % reader_id)
        return json.loads(got[-1][1]) if got else None

    def close(self):
        self.recorder.close()
        self.broker.close()
        self.sim.stop()


def write_config(flash, cfg):
    with open(os.path.join(flash, "config.json"), "w") as f:
        json.dump(cfg, f)


def stage(flash, bundle_path, timeout=60):
    """The deployed updater's answer to a bundle, as the web route would get it."""
    run = subprocess.run([MICROPYTHON, os.path.join(HERE, "stage_bundle.py"), bundle_path], cwd=flash,
                         env=dict(os.environ, MICROPYPATH=".frozen:lib"), capture_output=True, text=True,
                         timeout=timeout)
    for line in run.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise AssertionError("the updater gave no answer:\n%s%s" % (run.stdout, run.stderr))


class Golden:
    """One board deployed once (no config); tests start from copies of its flash."""

    def __init__(self, base):
        self.board = StandIn(os.path.join(base, "golden"))
        self.board.start()
        self.keys = os.path.join(base, "keys.json")
        status, out, err = metereye("deploy", "--port", self.board.port, "--no-reset",
                                    env={"METEREYE_KEYS": self.keys})
        self.board.stop()
        assert status == 0, out + err
        self.out = out

    def copy(self, base):
        """A new stand-in whose flash is a copy of the golden board's."""
        target = os.path.join(base, "flash")
        shutil.copytree(self.board.flash, target)
        return StandIn(base)

    def key(self):
        with open(os.path.join(self.board.flash, "update.key")) as f:
            return bytes.fromhex(f.read().strip())


def page_status(port):
    """The reader's page: GET /api/status as an object, or None while it does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=5) as f:
            return json.loads(f.read())
    except OSError:
        return None


def wait_until(predicate, timeout=30.0, what="the condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)
