"""`metereye deploy` against the unix-port stand-in: real mpremote, real socat,
the real unix MicroPython binary, a real Mosquitto."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from deployhelp import (METEREYE, World, make_tree, metereye, need_socat, read_json, set_is_consistent,
                        snapshot, wait_until)
from metereye_tools import deploy_board as deploy
from metereye_tools.standin import MARKER, StandIn


@pytest.fixture
def board(tmp_path):
    need_socat()
    made = []

    def make():
        b = StandIn(str(tmp_path / ("board%d" % len(made))))
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def keys(tmp_path):
    return {"METEREYE_KEYS": str(tmp_path / "keys.json")}


def test_deploy_then_the_firmware_publishes_and_a_second_deploy_copies_nothing(board, keys, tmp_path):
    b = board()
    world = World(b.flash)
    try:
        cfg = world.config()
        cfg["wifi"] = {"ssid": "home", "password": "wifi-secret-123"}
        path = tmp_path / "reader.json"
        path.write_text(json.dumps(cfg))
        status, out, err = metereye("deploy", "--port", b.port, "--config", str(path), "--follow",
                                    "--follow-timeout", "60", env=keys)
        assert status == 0, out + err + b.console()[-3000:]
        assert "it works: the reader published its first reading" in out
        assert "wifi-secret-123" not in out + err and "wifi.password" in out
        world.recorder.wait_for(lambda r: len(r.states()) >= 2, timeout=30, what="readings")
        assert world.update_status()["status"] == "deployed"
        # The layout docs/decisions.md §24, §25 ask for, inside the stand-in's own folder.
        flash = b.flash
        assert open(os.path.join(flash, "boot.py")).read().strip() == "import startup; startup.boot()"
        assert open(os.path.join(flash, "main.py")).read().strip() == "import app; app.main()"
        state = read_json(os.path.join(flash, "sets", "state.json"))
        assert state["active"] == "a" and state["trial"] is None
        consistent, set_id = set_is_consistent(flash, "a")
        assert consistent
        assert os.path.exists(os.path.join(flash, "sets", "a", "lib", "umqtt", "simple.mpy"))
        assert os.path.exists(os.path.join(flash, "sets", "a", "lib", "microdot", "microdot.mpy"))
        assert not [n for n in os.listdir(os.path.join(flash, "sets", "a")) if n.endswith(".py")]
        assert read_json(os.path.join(flash, "config.json")) == cfg
        assert len(bytes.fromhex(open(os.path.join(flash, "update.key")).read().strip())) == 32
        assert json.load(open(keys["METEREYE_KEYS"]))["deploy-test"]

        before = snapshot(os.path.join(flash, "sets"))
        status, out, err = metereye("deploy", "--port", b.port, "--no-reset", env=keys)
        assert status == 0, out + err
        assert "nothing to copy: the board already runs set %s" % set_id in out
        assert snapshot(os.path.join(flash, "sets")) == before
        assert read_json(os.path.join(flash, "config.json")) == cfg      # kept without --config
    finally:
        world.close()


def test_a_killed_deploy_is_completed_by_the_next(board, keys, tmp_path):
    b = board()
    status, out, err = metereye("deploy", "--port", b.port, "--no-reset", env=keys)
    assert status == 0, out + err
    old_ok, old_set = set_is_consistent(b.flash, "a")
    tree = make_tree(str(tmp_path), mark=2)          # every file of the set changes
    staging = os.path.join(b.flash, "sets", "b")
    proc = subprocess.Popen([METEREYE, "deploy", "--port", b.port, "--tree", tree, "--no-reset"],
                            env=dict(os.environ, **keys), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: sum(len(f) for _, _, f in os.walk(staging)) >= 15, 60, "half the files")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)          # the deploy and its mpremote, mid-copy
        proc.wait()
    # The board still boots the old set, whole.
    assert read_json(os.path.join(b.flash, "sets", "state.json"))["active"] == "a"
    assert set_is_consistent(b.flash, "a") == (True, old_set)
    assert not os.path.exists(os.path.join(staging, "manifest.json"))
    status, out, err = metereye("deploy", "--port", b.port, "--tree", tree, "--no-reset", env=keys)
    assert status == 0, out + err
    assert "sets/b holds an unfinished deploy or update" in out
    total, sent, copied, there = (int(n) for n in re.search(
        r"(\d+) files, [\d,]+ bytes; (\d+) to send, (\d+) copied on the board, (\d+) already there",
        out).groups())
    assert there >= 10 and copied == 0 and sent + there == total, out    # only the missing files crossed
    state = read_json(os.path.join(b.flash, "sets", "state.json"))
    assert state["active"] == "b" and state["previous"] == "a"
    ok, new_set = set_is_consistent(b.flash, "b")
    assert ok and new_set != old_set
    # What runs at the next boot is the new set.
    n = len(b.console())
    deploy.reset_board(b.port)
    b.wait_for("no configuration", 20, n)


def test_a_bad_config_is_refused_before_anything_is_written(board, keys, tmp_path):
    b = board()
    before = snapshot(b.flash)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"wifi": {"ssid": "home", "password": "wifi-secret-123"},
                                "meters": [{"model": "nonesuch"}]}))
    status, out, err = metereye("deploy", "--port", b.port, "--config", str(path), env=keys)
    assert status == 2
    assert "meters[0].model" in err and "nothing was written" in err
    assert "wifi-secret-123" not in out + err
    time.sleep(0.3)
    assert snapshot(b.flash) == before
    assert "raw REPL" not in b.console()            # the board was not even contacted


def test_dry_run_lists_the_set_and_contacts_no_board(board, keys):
    b = board()
    before = snapshot(b.flash)
    status, out, err = metereye("deploy", "--port", b.port, "--dry-run", env=keys)
    assert status == 0, err
    assert "app.mpy" in out and "lib/umqtt/simple.mpy" in out and "lib/microdot/microdot.mpy" in out
    assert "boot.py" in out and "lib/startup.mpy" in out
    total = [line for line in out.splitlines() if line.startswith("set ")][0]
    listed = [line for line in out.splitlines() if line.startswith("  ") and "outside the sets" not in line]
    assert "%d files" % len(listed) in total
    assert snapshot(b.flash) == before and "raw REPL" not in b.console()


def test_a_unix_micropython_that_is_not_a_stand_in_is_refused(board, keys):
    b = board()
    os.remove(os.path.join(b.flash, MARKER))
    before = snapshot(b.flash)
    status, out, err = metereye("deploy", "--port", b.port, "--no-reset", env=keys)
    assert status == 1
    assert "not a metereye stand-in" in err
    assert snapshot(b.flash) == before


def test_boards_whose_mpy_cannot_run_this_set_are_refused():
    board = {"platform": "esp32", "version": "1.24.1", "root": "", "free": 10 ** 6}
    for version, mpy, words in (("1.18.0", None, "flash MicroPython 1.22 or newer"),   # no _mpy yet
                                ("1.24.1", 5 | 10 << 10, "flash MicroPython 1.22 or newer"),
                                ("1.21.0", 6 | 1 << 8 | 10 << 10, "flash MicroPython 1.22 or newer"),
                                ("2.0.0", 7 | 10 << 10, "update mpy-cross")):
        with pytest.raises(deploy.DeployError) as e:
            deploy.check_board(dict(board, version=version, mpy=mpy))
        assert words in str(e.value), version
    ok = deploy.check_board(dict(board, version="1.22.2", mpy=6 | 2 << 8 | 10 << 10))
    assert "MicroPython 1.22.2 on esp32 (.mpy v6.2, native code xtensawin)" in ok
    with pytest.raises(deploy.DeployError):
        deploy.check_board({"platform": "linux", "version": "1.29.0", "mpy": 6, "root": "/", "standin": True})


# --- small heaps, busy boards, Ctrl-C ---------------------------------------------------

def test_deploy_works_on_a_96k_heap_and_the_firmware_it_put_there_starts(tmp_path, keys):
    need_socat()
    base = str(tmp_path / "small")
    b = StandIn(base, heap="96K").start()
    world = World(b.flash)
    try:
        path = tmp_path / "reader.json"
        path.write_text(json.dumps(world.config()))
        status, out, err = metereye("deploy", "--port", b.port, "--config", str(path), "--no-reset", env=keys)
        assert status == 0, out + err + b.console()[-2000:]
        assert "MemoryError" not in b.console()
        assert set_is_consistent(b.flash, "a")[0]
        # The same flash boots: the firmware's own smallest heap is its figure, not the
        # deploy's (README: The firmware's figures), so it boots without the 96K limit.
        b.stop()
        n = len(b.console())
        b = StandIn(base).start()
        b.wait_for("I app: metereye", 30, n)
        b.wait_for("mqtt: published the first reading", 60, n)
    finally:
        b.stop()
        world.close()


# A main.py that crashes and restarts its board every half second, and, for its
# first six boots, swallows Ctrl-C (as an app that catches everything would).
CRASH_LOOP = """import os, sys, time
try:
    n = int(open('boots').read())
except OSError:
    n = 0
open('boots', 'w').write(str(n + 1))
print('crash-loop: boot', n)
if n < 6:
    try:
        time.sleep(0.5)
    except KeyboardInterrupt:
        pass
else:
    time.sleep(0.5)
sys.exit(1)
"""


def test_deploy_gets_into_a_board_that_restarts_every_half_second(board, keys, tmp_path):
    need_socat()
    b = StandIn(str(tmp_path / "looping"))
    with open(os.path.join(b.flash, "main.py"), "w") as f:
        f.write(CRASH_LOOP)
    b.start()
    try:
        status, out, err = metereye("deploy", "--port", b.port, "--no-reset", env=keys)
        assert status == 0, out + err + b.console()[-2000:]
        assert "is busy or restarting: interrupting it (Ctrl-C), for up to 30 s" in out
        assert "attempt 2: no REPL yet; trying again in" in out
        assert b.console().count("crash-loop: boot") >= 6
        assert open(os.path.join(b.flash, "main.py")).read().strip() == "import app; app.main()"
        assert read_json(os.path.join(b.flash, "sets", "state.json"))["active"] == "a"
    finally:
        b.stop()


def test_ctrl_c_stops_a_deploy_in_one_line_and_the_next_completes_it(board, keys, tmp_path):
    b = board()
    staging = os.path.join(b.flash, "sets", "a")
    proc = subprocess.Popen([METEREYE, "deploy", "--port", b.port, "--no-reset"], env=dict(os.environ, **keys),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: sum(len(f) for _, _, f in os.walk(staging)) >= 10, 60, "files on the board")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert lines == ["metereye deploy: stopped by Ctrl-C; the board still runs its previous set, and the next "
                     "deploy completes this one"]
    assert not os.path.exists(os.path.join(staging, "manifest.json"))
    status, out, err = metereye("deploy", "--port", b.port, "--no-reset", env=keys)
    assert status == 0, out + err
    assert "sets/a holds an unfinished deploy or update" in out
    assert set_is_consistent(b.flash, "a")[0]
