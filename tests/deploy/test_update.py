"""Updates without a cable: the updater on the stand-in (unix MicroPython) stages
signed bundles, startup.py tries them at the next boot and rolls back by itself.

`metereye update` pushes bundles to the reader's own page (firmware/web.py,
POST /api/update); other tests hand a bundle to the updater directly
(stage_bundle.py), as the route does, to cut the power at chosen moments.
"""

import base64
import json
import os
import signal
import socket
import subprocess

import pytest

from deployhelp import (HERE, MICROPYTHON, Golden, World, make_tree, metereye, need_socat, page_status, read_json,
                        set_is_consistent, set_version, snapshot, stage, wait_until, write_config)
from metereye_tools import bundle
from metereye_tools import deploy_board as deploy
from metereye_tools.broker import free_port

PAGE_PASSWORD = "page-pass-1"


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    need_socat()
    g = Golden(str(tmp_path_factory.mktemp("golden")))
    yield g
    g.board.remove()


@pytest.fixture
def boards(tmp_path):
    made = []
    yield made
    for b in made:
        b.stop()


def _bundle(tmp_path, name, key, tree=None, health_s=None, damage=None):
    data = bytearray(bundle.make_bundle(bundle.build_set(tree or bundle.ROOT), key, health_s))
    if damage:
        damage(data)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def _state(flash):
    return read_json(os.path.join(flash, "sets", "state.json"))


def test_tampered_bundles_are_refused_and_nothing_is_switched(golden, tmp_path):
    b = golden.copy(str(tmp_path / "board"))
    flash = b.flash
    key = golden.key()
    assert bundle.build_set()[-1].size > 10

    def flip(data):
        data[-10] ^= 0x01           # a byte of the last file: the manifest still verifies

    cases = (
        (_bundle(tmp_path, "wrong-key.bin", bytes(32)), "HMAC does not match"),
        (_bundle(tmp_path, "flipped.bin", key, damage=flip), "does not match its sha256"),
        (_bundle(tmp_path, "short.bin", key, damage=lambda d: d.__delitem__(slice(-500, None))),
         "the upload is"),
        (_bundle(tmp_path, "garbage.bin", key, damage=lambda d: d.__setitem__(slice(0, 4), b"ZIP!")),
         "not a metereye update bundle"),
    )
    state = _state(flash)
    running = snapshot(os.path.join(flash, "sets", "a"))
    for path, why in cases:
        answer = stage(flash, path)
        assert answer["ok"] is False and why in answer["message"], (path, answer)
        assert _state(flash) == state, path                        # nothing switched
        assert snapshot(os.path.join(flash, "sets", "a")) == running
        assert not os.path.exists(os.path.join(flash, "sets", "b", "manifest.json")), path
        if "HMAC" in why:
            assert not os.path.exists(os.path.join(flash, "sets", "b")), "an HMAC failure writes nothing"

    answer = stage(flash, _bundle(tmp_path, "good.bin", key, health_s=60))
    assert answer["ok"], answer
    st = _state(flash)
    assert st["active"] == "a" and st["trial"] == "b" and st["tries"] == 0 and st["health_s"] == 60
    assert set_is_consistent(flash, "b")[0]
    assert read_json(os.path.join(flash, "update.json"))["status"] == "staged"


def _page_config(world, port):
    return world.config(web={"enabled": True, "port": port, "password": PAGE_PASSWORD})


def _post_in_one_write(port, data):
    head = ("POST /api/update HTTP/1.1\r\nHost: reader\r\nContent-Type: application/octet-stream\r\n"
            "Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n"
            % (base64.b64encode(b"u:" + PAGE_PASSWORD.encode()).decode(), len(data))).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head + data)
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_an_update_over_http_is_applied_and_kept_once_healthy(golden, boards, tmp_path):
    b = golden.copy(str(tmp_path / "board"))
    boards.append(b)
    world = World(b.flash)
    port = free_port()
    host = "127.0.0.1:%d" % port
    try:
        write_config(b.flash, _page_config(world, port))
        b.start()
        world.recorder.wait_for(lambda r: r.states(), timeout=30, what="a reading from the deployed set")
        wait_until(lambda: page_status(port), 20, "the reader's page")
        state = _state(b.flash)
        boots = b.boots()
        key = golden.key()

        # Refused over HTTP, each with its reason; the reader runs on, nothing switched.
        def flip(data):
            data[-10] ^= 0x01
        for data, why in ((_bundle(tmp_path, "wrong-key.bin", bytes(32)), "HMAC does not match"),
                          (_bundle(tmp_path, "flipped.bin", key, damage=flip), "does not match its sha256")):
            with open(data, "rb") as f:
                data = f.read()
            ok, message = bundle.push(host, PAGE_PASSWORD, data)
            assert not ok and why in message, message
            # The same with the head and the bundle's first bytes in one packet, as a browser sends them.
            status, answer = _post_in_one_write(port, data)
            assert status == 400 and why in answer["message"], answer
            assert _state(b.flash) == state
            assert not os.path.exists(os.path.join(b.flash, "sets", "b", "manifest.json"))
        tree = make_tree(str(tmp_path), edits={"firmware/runtime.py": set_version("9.9.9-updated")})
        with open(_bundle(tmp_path, "signed-earlier.bin", key), "rb") as f:
            signed_earlier = f.read()      # valid, and older than what the reader stages next
        env = {"METEREYE_KEYS": golden.keys}
        status, out, err = metereye("update", "--host", host, "--password", "wrong-pass", "--tree", tree,
                                    env=env)
        assert status == 1 and "refused the password" in out, out + err
        assert _state(b.flash) == state and b.boots() == boots
        assert page_status(port)["reader"]["version"] != "9.9.9-updated"      # still serving, the old set

        n = len(b.console())
        status, out, err = metereye("update", "--host", host, "--password", PAGE_PASSWORD, "--tree", tree,
                                    "--health-s", "60", env=env)
        assert status == 0 and "accepted: set" in out, out + err
        assert PAGE_PASSWORD not in out + err
        # The reader resets itself once it has answered, and tries the new set.
        b.wait_for("restarting: update staged", 20, n)
        b.wait_for("trying update", 20, n)
        b.wait_for("is healthy: kept", 40, n)
        assert b.boots() == boots + 1
        st = _state(b.flash)
        assert st["active"] == "b" and st["trial"] is None and st["previous"] == "a"
        world.recorder.wait_for(lambda r: (world.update_status() or {}).get("status") == "updated",
                                timeout=20, what="the update status over MQTT")
        world.recorder.wait_for(lambda r: any('"sw_version":"9.9.9-updated"' in p.replace(" ", "")
                                              for _, p in r.where("/config")),
                                timeout=20, what="discovery from the new set")
        wait_until(lambda: (page_status(port) or {}).get("reader", {}).get("version") == "9.9.9-updated", 20,
                   "the page served by the new set")
        assert page_status(port)["reader"]["update"]["status"] == "updated"
        count = len(world.recorder.states())
        world.recorder.wait_for(lambda r: len(r.states()) > count, timeout=20, what="a reading from the new set")

        # A signed bundle sent again later (a replay, or an old file) would bring an old set back: refused.
        boots = b.boots()
        ok, message = bundle.push(host, PAGE_PASSWORD, signed_earlier)
        assert not ok and "an old bundle sent again is refused" in message, message
        assert _state(b.flash)["trial"] is None and b.boots() == boots
    finally:
        world.close()


def test_an_update_that_raises_at_import_is_rolled_back_with_the_reason(golden, boards, tmp_path):
    b = golden.copy(str(tmp_path / "board"))
    boards.append(b)
    world = World(b.flash)
    port = free_port()
    try:
        write_config(b.flash, _page_config(world, port))
        b.start()
        world.recorder.wait_for(lambda r: r.states(), timeout=30, what="a reading")
        key = golden.key()
        # reader.py is imported once the app runs: the crash goes through app.main's handler.
        broken = make_tree(str(tmp_path / "reader"), edits={
            "firmware/reader.py": lambda t: t + "\nraise ImportError('broken on purpose')\n"})
        n = len(b.console())
        with open(_bundle(tmp_path, "broken-reader.bin", key, tree=broken), "rb") as f:
            ok, message = bundle.push("127.0.0.1:%d" % port, PAGE_PASSWORD, f.read())
        assert ok, message
        answer = {"set": message.split()[1]}           # "set ID verified and staged; ..."
        b.wait_for("rolled back:", 40, n)
        out = b.console()[n:]
        assert "trying update" in out and "broken on purpose" in out
        st = _state(b.flash)
        assert st["active"] == "a" and st["trial"] is None
        status = read_json(os.path.join(b.flash, "update.json"))
        assert status["status"] == "rolled_back" and "broken on purpose" in status["reason"]
        assert status["set"] == answer["set"]
        world.recorder.wait_for(lambda r: (world.update_status() or {}).get("status") == "rolled_back",
                                timeout=20, what="the roll-back reported over MQTT")
        assert "broken on purpose" in world.update_status()["reason"]
        wait_until(lambda: page_status(port), 20, "the page of the set rolled back to")
        shown = page_status(port)["reader"]["update"]
        assert shown["status"] == "rolled_back" and "broken on purpose" in shown["reason"], shown
        count = len(world.recorder.states())
        world.recorder.wait_for(lambda r: len(r.states()) > count, timeout=30,
                                what="a reading from the set rolled back to")

        # app.py itself failing at import is caught by startup.py in the same boot.
        broken_app = make_tree(str(tmp_path / "app"), edits={
            "firmware/app.py": lambda t: t + "\nraise ValueError('app broken on purpose')\n"})
        assert stage(b.flash, _bundle(tmp_path, "broken-app.bin", key, tree=broken_app))["ok"]
        n = len(b.console())
        boots = b.boots()
        deploy.reset_board(b.port)
        b.wait_for("rolled back: failed at import: ValueError", 30, n)
        b.wait_for("I app: metereye", 20, n)
        assert b.boots() == boots + 1                      # no reset needed: the old set runs on
        assert _state(b.flash)["active"] == "a"
        world.recorder.wait_for(lambda r: "app broken on purpose" in (world.update_status() or {}).get(
            "reason", ""), timeout=20, what="the second roll-back over MQTT")
    finally:
        world.close()


def test_an_update_that_never_gets_healthy_is_rolled_back_in_time(golden, boards, tmp_path):
    b = golden.copy(str(tmp_path / "board"))
    boards.append(b)
    write_config(b.flash, {"reader_id": "no-broker", "web": {"enabled": False}})
    tree = make_tree(str(tmp_path), edits={
        "firmware/app.py": lambda t: t.replace("self.healthy = True", "self.healthy = False")})
    assert stage(b.flash, _bundle(tmp_path, "never-healthy.bin", golden.key(), tree=tree, health_s=10))["ok"]
    b.start()
    b.wait_for("rolled back:", 40)
    status = read_json(os.path.join(b.flash, "update.json"))
    assert status["reason"] == "not healthy 10 s after boot: main loop not running", status
    assert _state(b.flash)["active"] == "a"


def test_a_power_cut_at_any_step_leaves_a_bootable_reader(golden, boards, tmp_path):
    b = golden.copy(str(tmp_path / "board"))
    boards.append(b)
    flash = b.flash
    write_config(flash, {"reader_id": "power-cut", "web": {"enabled": False}})
    key = golden.key()
    tree = make_tree(str(tmp_path), mark=3)
    path = _bundle(tmp_path, "update.bin", key, tree=tree, health_s=60)
    # Power lost while the bundle is being written: the half-written set never runs.
    proc = subprocess.Popen([MICROPYTHON, os.path.join(HERE, "stage_bundle.py"), path, "5"], cwd=flash,
                            env=dict(os.environ, MICROPYPATH=".frozen:lib"), stdout=subprocess.DEVNULL)
    wait_until(lambda: sum(len(f) for _, _, f in os.walk(os.path.join(flash, "sets", "b"))) >= 10,
               30, "part of the bundle on flash")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _state(flash)["trial"] is None
    assert not os.path.exists(os.path.join(flash, "sets", "b", "manifest.json"))
    b.start()
    b.wait_for("I app: metereye", 20)
    assert "trying update" not in b.console()
    # Power lost during the trial boot, before the new set was confirmed: the next boot rolls back.
    assert stage(flash, path)["ok"]
    n = len(b.console())
    deploy.reset_board(b.port)
    b.wait_for("trying update", 20, n)
    b.power_cut()
    b.wait_for("rolled back: did not report healthy", 20, n)
    b.wait_for("I app: metereye", 20, n)
    st = _state(flash)
    assert st["active"] == "a" and st["trial"] is None
    assert set_is_consistent(flash, "a")[0] and set_is_consistent(flash, "b")[0]


def test_a_deploy_by_cable_clears_the_replay_record(golden, boards, tmp_path):
    """A PC whose clock once ran ahead would leave every later bundle refused as
    a replay; a new set deployed by cable starts the record again."""
    b = golden.copy(str(tmp_path / "board"))
    boards.append(b)
    write_config(b.flash, {"reader_id": "clock-ahead", "web": {"enabled": False}})
    key = golden.key()
    ahead = bundle.make_bundle(bundle.build_set(), key, health_s=10, issued=4102444800000)    # 2100-01-01
    path = tmp_path / "from-the-future.bin"
    path.write_bytes(ahead)
    assert stage(b.flash, str(path))["ok"]
    seen = os.path.join(b.flash, "update.seen")
    with open(seen) as f:
        assert f.read() == "4102444800000"
    b.start()
    b.wait_for("rolled back:", 40)      # no meter, no broker: never healthy; the record stays
    now = _bundle(tmp_path, "now.bin", key, tree=make_tree(str(tmp_path / "now"), mark=1))
    answer = stage(b.flash, now)
    assert not answer["ok"] and "check that PC's clock" in answer["message"], answer
    status, out, err = metereye("deploy", "--port", b.port, "--no-reset", "--tree",
                                make_tree(str(tmp_path / "cable"), mark=2), env={"METEREYE_KEYS": golden.keys})
    assert status == 0, out + err
    b.stop()
    assert not os.path.exists(seen)
    assert stage(b.flash, now)["ok"]
