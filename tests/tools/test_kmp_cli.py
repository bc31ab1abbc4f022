"""`metereye decode kmp`, `read`, `scan` and `simulate` for Kamstrup meters, as a user runs them."""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from simhelp import BIN, Sim, metereye  # noqa: E402
from testvectors import vectors  # noqa: E402

from metereye import meters, protocols  # noqa: E402

KMP_MODELS = ["multical21", "flowiq2200", "multical403"]


def test_decode_prints_the_documented_json_for_the_issue_frame():
    code, out, _ = metereye("decode", "kmp", "40 3F 10 00 44 28 04 43 00 00 21 5D A3 90 0D", "--json")
    assert code == 0
    got = json.loads(out)
    assert got["frame"] == "response" and got["cid"] == 16 and got["crc_ok"] is True
    reg = got["registers"][0]
    assert {k: reg[k] for k in ("id", "name", "unit", "value", "number", "raw", "exponent")} == {
        "id": 68, "name": "volume", "unit": "m³", "value": "8.541", "number": 8.541,
        "raw": 8541, "exponent": -3}


def test_decode_exit_status_follows_every_vector():
    for v in vectors("kmp_vectors.json"):
        code, out, err = metereye("decode", "kmp", v["hex"], "--json")
        want = v["expected"].get("error")
        if want == "not_a_frame":
            assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, v["id"]
        elif want:
            got = json.loads(out)
            assert code == 1 and got["crc_ok"] is False and got["error"] == want, (v["id"], got)
        else:
            assert code == 0, (v["id"], err)


def test_decode_lists_echo_and_answer_answer_last(tmp_path):
    capture = tmp_path / "line.bin"
    capture.write_bytes(bytes.fromhex("803f100100444dc00d" "403f10004428044300 00215da3900d".replace(" ", "")))
    code, out, _ = metereye("decode", "kmp", str(capture), "--json")
    got = json.loads(out)
    assert code == 0 and [f["frame"] for f in got] == ["request", "response"]
    assert got[0]["registers"] == [{"id": 68, "name": "volume"}]
    assert got[1]["registers"][0]["value"] == "8.541"
    code, out, _ = subprocess.run([os.path.join(BIN, "metereye"), "decode", "kmp", "-", "--json"],
                                  input="06", capture_output=True, text=True).returncode, None, None
    assert code == 0


def _read(port, meter, *extra):
    code, out, err = metereye("read", "--port", port, "--meter", meter, "--json", *extra)
    return code, (json.loads(out) if out.strip() else None), err


@pytest.mark.parametrize("model", KMP_MODELS)
@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp"])
def test_read_gets_a_whole_meter_with_echo_and_noise(model, tcp):
    with Sim(model, "--speed", "50", "--noise", "--seed", "7", tcp=tcp) as sim:
        code, got, err = _read(sim.port, model)
    assert code == 0, err
    want = meters.details(model)
    ids = [r["id"] for r in got["registers"]]
    assert ids == want.register_ids
    assert got["protocol"] == "kmp" and got["meter"]["serial"] in (75749993, 19088743)
    volume = next(r for r in got["registers"] if r["name"] == "volume")
    assert volume["unit"] == "m³" and Decimal(volume["value"]) > 0


def test_read_at_real_pace_takes_at_least_the_wire_time():
    with Sim("multical21") as sim:
        start = time.monotonic()
        code, got, err = _read(sim.port, "multical21")
        took = time.monotonic() - start
    assert code == 0, err
    # Two requests (36 bytes) and their answers (99 bytes), 11 bits a byte at 1200 Bd.
    assert took > 135 * 11 / 1200


def test_volume_rises_with_flow_over_time():
    with Sim("multical21", "--speed", "3600") as sim:   # an hour a second, from 07:00
        _, first, _ = _read(sim.port, "multical21")
        time.sleep(1.5)
        _, later, _ = _read(sim.port, "multical21")
    v1 = Decimal(first["registers"][0]["value"])
    v2 = Decimal(later["registers"][0]["value"])
    assert v2 > v1


def test_a_reader_at_the_wrong_speed_gets_no_answer():
    with Sim("multical21", "--speed", "50") as sim:
        code, out, err = metereye("read", "--port", sim.port, "--meter", "multical403")
        ok_code, _, _ = _read(sim.port, "multical21")
    assert ok_code == 0
    # multical403 is read at 1200 too: same speed, so this one answers; the
    # wrong-speed case is below with a raw pyserial port at 9600.
    import serial
    with Sim("multical21", "--speed", "50") as sim:
        port = serial.Serial(sim.port, 9600, timeout=1)
        port.write(bytes.fromhex("803f100100444dc00d"))
        time.sleep(0.5)
        data = port.read(200)
        port.close()
    assert b"\x40" not in data   # the echo only, never an answer


def test_lockout_is_reported_as_such():
    with Sim("multical21", "--speed", "50", "--lockout", "3/86400") as sim:
        first, _, _ = _read(sim.port, "multical21")
        second, got, err = _read(sim.port, "multical21")
        third, got3, err3 = _read(sim.port, "multical21")
    assert first == 0
    assert second == 3 and got["outcome"] == "lockout" and "lock-out" in err
    assert third == 3 and got3["outcome"] == "asleep"
    assert got3["registers"] == []     # nothing invented for a silent meter


def test_a_sleeping_meter_answers_once_the_magnet_is_applied(tmp_path):
    magnet = tmp_path / "magnet"
    with Sim("flowiq2200", "--speed", "50", "--need-magnet", "--magnet-file", str(magnet)) as sim:
        asleep, got, err = _read(sim.port, "flowiq2200")
        magnet.write_text("1")
        time.sleep(0.3)
        awake, got2, _ = _read(sim.port, "flowiq2200")
    assert asleep == 3 and got["outcome"] == "asleep" and "magnet" in err
    assert awake == 0 and got2["outcome"] == "ok"


def test_no_light_back_means_check_the_head():
    with Sim("multical21", "--speed", "50", "--no-echo", "--need-magnet") as sim:
        code, got, err = _read(sim.port, "multical21")
    assert code == 1 and got["outcome"] == "no_echo" and "wiring" in err


def test_garbled_answers_are_never_published_as_values():
    with Sim("multical403", "--speed", "50", "--garble", "1.0", "--seed", "3") as sim:
        code, got, _ = _read(sim.port, "multical403")
    assert code == 1 and got["registers"] == []


def test_scan_lists_the_registers_that_answer(tmp_path):
    log = tmp_path / "commands.jsonl"
    with Sim("multical403", "--speed", "50", "--log", str(log)) as sim:
        code, out, err = metereye("scan", "--port", sim.port, "--range", "56-0x5A", "--delay", "0.05")
    assert code == 0, err
    lines = out.splitlines()
    assert [int(l.split()[0]) for l in lines[:-1]] == [60, 63, 68, 74, 80, 86, 87, 89]
    assert lines[-1] == "8 registers answered in 56-90"
    sent = [json.loads(l) for l in log.read_text().splitlines() if "cid" in l]
    assert [len(r["registers"]) for r in sent] == [8, 8, 8, 8, 3]   # 35 ids, ≤8 a request
    assert {r["cid"] for r in sent} == {0x10}


def test_the_reader_never_sends_a_writing_command(tmp_path):
    log = tmp_path / "commands.jsonl"
    with Sim("multical403", "--speed", "50", "--log", str(log)) as sim:
        for model in ("multical403", "multical21"):
            _read(sim.port, model)
        metereye("scan", "--port", sim.port, "--range", "1-40", "--delay", "0")
    cids = {json.loads(l)["cid"] for l in log.read_text().splitlines() if "cid" in l}
    assert cids and not cids & {0x09, 0x11, 0x9C}


def test_simulate_list_names_protocols():
    code, out, _ = metereye("simulate", "--list")
    rows = [l.split(" ", 2) for l in out.splitlines()]
    names = {r[0]: r[1] for r in rows}
    for model in KMP_MODELS:
        assert names[model] == "kmp"
    assert all(r[1] in [row[0] for row in protocols.PROTOCOLS] for r in rows)


def test_pykmp_reads_the_same_values_from_the_simulator():
    """An independent KMP client (PyKMP, its documented CLI) agrees with our reader."""
    ids = [60, 68, 74, 80, 86, 87, 89, 1004]
    with Sim("multical403", "--no-echo", "--freeze", tcp=True) as sim:
        args = ["-d", "socket://127.0.0.1:%d" % sim.tcp_port, "get-register"]
        for rid in ids:
            args += ["--register", str(rid)]
        run = subprocess.run([os.path.join(BIN, "pykmp-tool"), *args, "--json"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        # Units compared by code: PyKMP spells Kelvin "°K".
        theirs = {r["id_int"]: (Decimal(r["value_str"]), r["unit_int"])
                  for r in json.loads(run.stdout)["register_data"]}
        serial = subprocess.run([os.path.join(BIN, "pykmp-tool"), "-d",
                                 "socket://127.0.0.1:%d" % sim.tcp_port, "get-serial"],
                                capture_output=True, text=True, timeout=60)
        code, ours, err = _read(sim.port, "multical403")
    assert code == 0, err
    mine = {r["id"]: (Decimal(r["value"]), r["unit_code"]) for r in ours["registers"]}
    assert sorted(theirs) == ids
    for rid in ids:
        assert theirs[rid] == mine[rid], rid
    assert str(ours["meter"]["serial"]) in serial.stdout


def test_echo_test_tells_a_working_head_from_a_dead_one():
    with Sim("multical21", "--speed", "50") as sim:
        ok, out, _ = metereye("echo-test", "--port", sim.port)
    with Sim("multical21", "--speed", "50", "--no-echo") as sim:
        dead, out2, _ = metereye("echo-test", "--port", sim.port, "--json")
    assert ok == 0 and ": echo" in out and "magnet" in out
    assert dead == 1 and json.loads(out2)["outcome"] == "none"
