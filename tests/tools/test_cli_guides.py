"""The PC program guides instead of surprising: a meter that is not the model asked
for is named, mistyped input and missing ports are said as such, long commands show
progress on a terminal (and only there), Ctrl-C and a pulled-out head end in one line
with an exit status, and every command's --help shows an example and its exit statuses.
Real console script, real simulator processes, real ptys and signals."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from simhelp import METEREYE, Sim, metereye

from metereye import protocols
from metereye_tools import cli, detection, serial_ports


def _read(port, *args):
    code, out, err = metereye("read", "--port", port, *args)
    return code, out, err


def _log(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def _wait_for(predicate, timeout=30.0, what="the condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- the model asked for against the meter that answered ----------------------------

def test_a_heat_meter_asked_of_a_water_meter_is_refused_with_what_answered():
    with Sim("multical21", "--speed", "10") as sim:
        code, out, err = _read(sim.port, "--meter", "multical403")
        jcode, jout, _ = _read(sim.port, "--meter", "multical403", "--json")
    assert code == 1, out + err
    first = out.splitlines()[0]
    assert first.startswith("Kamstrup KMP meter answering like the water meters (multical21, flowiq2101")
    assert "serial 75749993" in first and "not a Kamstrup Multical 403 heat meter" in first
    assert "wrong meter" in err and "volume_reverse" in err and "heat_energy" in err
    assert "metereye read --port %s --protocol kmp" % sim.port in err and "metereye detect" in err
    got = json.loads(jout)
    assert jcode == 1 and got["outcome"] == "wrong_meter" and got["asked"] == "multical403"
    assert got["meter"]["model"] is None and got["meter"]["answers_like"][0] == "multical21"
    assert got["meter"]["meter_type"] == "0x0004"       # GetType, asked once the kind did not match


def test_a_water_meter_asked_of_a_heat_meter_is_refused_and_protocol_kmp_names_the_kind(tmp_path):
    log = tmp_path / "meter.jsonl"
    with Sim("multical403", "--speed", "10", "--log", str(log)) as sim:
        code, out, err = _read(sim.port, "--meter", "multical21")
        requests = len([r for r in _log(log) if r.get("cid") == 0x10])
        ok, out2, err2 = _read(sim.port, "--protocol", "kmp", "--json")
    assert code == 1 and "the heat meters (multical302" in err and "heat_energy" in err
    assert requests == 2            # the other kind's register rode along: no extra request
    got = json.loads(out2)
    assert ok == 0, err2
    assert got["meter"]["answers_like"] == ["multical302", "multical402", "multical403", "multical602",
                                            "multical603"]
    assert got["meter"]["serial"] == 19088743
    assert {"heat_energy", "temp_forward", "volume"} <= {r["name"] for r in got["registers"]}


def test_the_right_model_still_reads_in_two_requests(tmp_path):
    log = tmp_path / "meter.jsonl"
    with Sim("multical21", "--speed", "10", "--log", str(log)) as sim:
        code, out, err = _read(sim.port, "--meter", "flowiq2200")
    assert code == 0, err
    assert out.splitlines()[0] == "Kamstrup flowIQ 2200 water meter, serial 75749993"
    assert [r["cid"] for r in _log(log) if "cid" in r] == [0x10, 0x10]


def test_an_iec_read_of_a_kmp_meter_asks_kmp_once_and_says_what_answered(tmp_path):
    log = tmp_path / "meter.jsonl"
    with Sim("multical21", "--speed", "10", "--log", str(log)) as sim:
        code, out, err = _read(sim.port, "--meter", "iec-electricity")
        jcode, jout, _ = _read(sim.port, "--meter", "iec-electricity", "--json")
    assert code == 1 and out == ""
    assert "no IEC 62056-21 answer" in err and "Kamstrup KMP meter" in err and "serial 75749993" in err
    assert "not the iec-electricity asked for" in err
    assert "metereye read --port %s --protocol kmp" % sim.port in err and "metereye detect" in err
    got = json.loads(jout)
    assert jcode == 1 and got["outcome"] == "wrong_meter" and got["found"]["protocol"] == "kmp"
    assert [r["cid"] for r in _log(log) if "cid" in r] == [2, 1, 2, 1]     # GetSerialNo, GetType, per read


def test_a_maker_profile_asked_of_another_iec_meter_names_the_right_one():
    with Sim("iec-electricity", "--speed", "10") as sim:
        code, out, err = _read(sim.port, "--meter", "ultraheat-uh50")
        generic, _, err2 = _read(sim.port, "--meter", "iec-noswitch")    # any mode C meter: fine
    assert code == 1 and "/LGZ52ZMD120APt.G03" in err and "mode C" in err
    assert err.strip().endswith("metereye read --port %s --meter iec-electricity" % sim.port)
    assert "1.8.0" in out                                    # what was read is still shown
    assert generic == 0, err2


def test_read_needs_a_meter_or_a_protocol_and_an_unknown_one_is_an_error():
    code, _, err = metereye("read", "--port", "/dev/null")
    assert code == 2 and "give --meter MODEL" in err and "metereye detect --port /dev/null" in err
    code, _, err = metereye("read", "--port", "/dev/null", "--protocol", "modbus")
    assert code == 2 and "invalid choice" in err
    code, _, err = metereye("decode", "modbus", "00")
    assert code == 2 and "invalid choice" in err


# --- through the protocol table -----------------------------------------------------

def test_every_family_has_its_pc_commands_and_simulator():
    for family in protocols.families():
        module = detection.family_module(family)
        assert callable(module.decode) and callable(module.read), family
        assert callable(getattr(module, "probes", None)) or callable(getattr(module, "probe", None)), family
    for row in protocols.PROTOCOLS:
        assert protocols.load(protocols.Protocol(row).simulator), row[0]


def test_a_family_that_only_listens_plugs_into_detect_with_a_row(monkeypatch):
    """What a new family's module with a lone probe(port) gets: a listening probe, last."""
    here = sys.modules[__name__]
    row = ("xyz", "xyz", True, 9600, "8N1", "xyz_reader", "metereye.obis", "metereye.iec_json",
           here.__name__, "metereye_tools.simulator")
    monkeypatch.setattr(protocols, "PROTOCOLS", protocols.PROTOCOLS + (row,))
    probes = detection.all_probes(1.0)
    assert probes[-1].label == "listening for XYZ" and probes[-1].rank == detection.RANK_LISTEN
    assert [p.rank for p in probes] == sorted(p.rank for p in probes)
    tried = []
    found = probes[-1].run("/dev/pts/99", tried)
    assert found.protocol == "xyz" and tried == [{"probe": "listening for XYZ", "outcome": "ok"}]
    assert detection.read_command("/dev/pts/99", found) == "metereye read --port /dev/pts/99 --protocol xyz"


def probe(port):
    """The lone probe of the stand-in family above."""
    return detection.Found("xyz", 9600, "8N1", {"server_id": "0a01"}, None, "XYZ meter at 9600 Bd 8N1")


# --- input that is not what it seems --------------------------------------------------

def test_a_mistyped_file_name_is_said_to_be_missing(tmp_path):
    for word in ("captur.bin", str(tmp_path / "nothere"), "readout.txt"):
        code, out, err = metereye("decode", "kmp", word)
        assert code == 2 and out == "", word
        assert _one_line(err) == "metereye decode: no file named %s (and it is not hex either)" % word
        assert "fromhex" not in err
    code, _, err = metereye("decode", "iec", "40 3G 10")
    assert code == 2 and "not hex: 'G' in word 1 (40 3G 10)" in err
    code, _, err = metereye("decode", "kmp", "40", "3", "10")
    assert code == 2 and "odd number of hex digits (5)" in err


def test_a_port_that_does_not_exist_is_said_so_with_the_ports_that_do():
    for command in (("read", "--meter", "multical21"), ("scan",), ("detect",), ("echo-test",), ("deploy",)):
        code, out, err = metereye(*command, "--port", "/dev/ttyUSB97")
        assert code == 2, (command, err)
        line = _one_line(err)
        assert line.startswith("metereye %s: /dev/ttyUSB97 does not exist. " % command[0]), line
        assert "Serial ports here" in line or "No serial port was found" in line
        assert "in use" not in line


def test_ports_lists_what_pyserial_sees_and_marks_the_usual_adapters():
    from serial.tools import list_ports
    code, out, _ = metereye("ports")
    devices = [p.device for p in list_ports.comports()]
    assert code == (0 if devices else 1)
    for device in devices:
        assert device in out
    assert serial_ports.adapter(0x10C4, 0xEA60) == "CP210x USB-serial"
    assert serial_ports.adapter(0x1A86, 0x7523) == "CH340 USB-serial"
    assert serial_ports.adapter(0x0403, 0x6001).startswith("FTDI")
    assert serial_ports.adapter(0x067B, 0x2303).startswith("PL2303")
    assert serial_ports.adapter(0x303A, 0x1001) == "ESP32-S3/C3 native USB"
    assert serial_ports.adapter(0x1234, 0x5678) is None


# --- help and version ------------------------------------------------------------------

def test_every_command_help_has_a_description_an_example_and_its_exit_statuses():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert len(subparsers.choices) >= 12
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert sub.description, name
        assert "metereye " in text.split("Example:\n  ")[1].splitlines()[0], name
        assert "Exit status: 0 " in text, name
    code, out, _ = metereye("read", "--help")
    assert code == 0 and "Example" in out and "Exit" in out


def test_version():
    from importlib.metadata import version
    code, out, _ = metereye("--version")
    assert code == 0 and out.strip() == "metereye %s" % version("metereye")


# --- progress on a terminal, and only there --------------------------------------------

def _with_tty_stderr(*args, timeout=120):
    """Run metereye with stderr on a pty (a terminal); (status, stdout, what the terminal got)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([METEREYE, *args], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 4096)
        except OSError:
            break                   # the command ended: the pty's last holder closed it
        if not data:
            break
        seen += data
    out = proc.stdout.read().decode()
    proc.wait(10)
    os.close(master)
    return proc.returncode, out, seen.decode("utf-8", "replace")


def test_long_commands_show_progress_on_a_terminal_and_nothing_in_a_pipe():
    with Sim("multical403", "--speed", "10") as sim:
        scan_tty = _with_tty_stderr("scan", "--port", sim.port, "--range", "56-90", "--delay", "0.05")
        scan_pipe = metereye("scan", "--port", sim.port, "--range", "56-90", "--delay", "0.05")
        detect_tty = _with_tty_stderr("detect", "--port", sim.port, "--listen-s", "1")
    with Sim("iec-electricity") as sim:
        read_tty = _with_tty_stderr("read", "--port", sim.port, "--meter", "iec-electricity")
        read_pipe = metereye("read", "--port", sim.port, "--meter", "iec-electricity")
    code, out, tty = scan_tty
    assert code == 0 and "scan: ids 56-63 (0 of 35 done), 0 answered" in tty
    assert "scan: ids 88-90 (32 of 35 done), 7 answered" in tty
    assert out == scan_pipe[1]                  # stdout is the same either way
    code, out, tty = detect_tty
    n = len(detection.all_probes(1.0))          # every family's probes, SML's among them
    assert code == 0 and "detect: 1 of %d: IEC 62056-21 sign-on" % n in tty and "detect: 2 of %d: KMP" % n in tty
    code, out, tty = read_tty
    assert code == 0 and "read: signing on at 300 Bd" in tty and "bytes received" in tty
    for code, out, err in (scan_pipe, read_pipe):
        assert code == 0 and "\x1b[K" not in err and "\r" not in err and "bytes received" not in err


# --- Ctrl-C ------------------------------------------------------------------------------

def _interrupt(proc, when):
    """SIGINT once `when()` is true (the command is at work), then its result."""
    _wait_for(when, 60, "the command to start its work")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def _start(*args, **kw):
    return subprocess.Popen([METEREYE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_ctrl_c_ends_a_scan_with_where_to_resume(tmp_path):
    log = tmp_path / "meter.jsonl"
    with Sim("multical403", "--speed", "10", "--log", str(log)) as sim:
        proc = _start("scan", "--port", sim.port, "--range", "1-2000", "--delay", "0.2")
        code, out, err = _interrupt(proc, lambda: len(_log(log)) >= 3)
    line = _one_line(err)
    assert code == 130, err
    resume = int(line.split("--range ")[1].split("-")[0])
    assert line == ("metereye scan: stopped by Ctrl-C at id %d, %d registers answered; resume with --range %d-2000"
                    % (resume, int(line.split(", ")[1].split()[0]), resume))
    assert 17 <= resume <= 2000 and out.splitlines()[-1].endswith("answered in 1-2000")


def test_ctrl_c_ends_read_detect_and_decode_in_one_line(tmp_path):
    log = tmp_path / "meter.jsonl"
    with Sim("iec-electricity", "--log", str(log)) as sim:
        proc = _start("read", "--port", sim.port, "--meter", "iec-electricity")
        read = _interrupt(proc, lambda: _log(log))
    master, slave = os.openpty()
    try:
        proc = _start("detect", "--port", os.ttyname(slave))
        heard = []

        def signed_on():
            if select.select([master], [], [], 0)[0]:
                heard.append(os.read(master, 100))
            return heard
        detect = _interrupt(proc, signed_on)
    finally:
        os.close(master)
        os.close(slave)
    proc = _start("decode", "kmp", "-", stdin=subprocess.PIPE)
    time.sleep(1.5)             # waiting for standard input that never ends
    decode = _interrupt(proc, lambda: True)
    proc.stdin.close()
    assert read[0] == 130 and _one_line(read[2]) == ("metereye read: stopped by Ctrl-C; nothing was read "
                                                      "(the meter returns to idle by itself)")
    assert detect[0] == 130 and _one_line(detect[2]).startswith(
        "metereye detect: stopped by Ctrl-C before a meter was found (tried ")
    assert decode[0] == 130 and _one_line(decode[2]) == "metereye decode: stopped by Ctrl-C"


def test_ctrl_c_ends_an_update_whose_reader_never_answers(tmp_path):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    key = tmp_path / "key"
    key.write_text("ab" * 32)
    accepted = []
    proc = _start("update", "--host", "127.0.0.1:%d" % server.getsockname()[1], "--password", "x",
                  "--key-file", str(key))
    server.settimeout(0.1)

    def connected():
        try:
            accepted.append(server.accept()[0])
        except OSError:
            pass
        return accepted
    try:
        code, out, err = _interrupt(proc, connected)
    finally:
        for s in accepted + [server]:
            s.close()
    assert code == 130 and _one_line(err) == ("metereye update: stopped by Ctrl-C; an upload cut short is "
                                              "refused by the reader, which keeps its set")


# --- the head pulled out -------------------------------------------------------------

@pytest.mark.parametrize("command", [("read", "--meter", "iec-electricity"), ("detect",),
                                     ("scan", "--range", "1-100", "--delay", "0")])
def test_a_head_pulled_out_mid_read_is_one_line_and_status_1(command):
    master, slave = os.openpty()
    port = os.ttyname(slave)
    proc = _start(command[0], "--port", port, *command[1:])
    try:
        _wait_for(lambda: select.select([master], [], [], 0)[0], 60, "the first request")
        os.read(master, 100)
        if command[0] != "scan":
            os.write(master, b"/LGZ5")          # half an identification, then the cable goes
        time.sleep(0.2)
    finally:
        os.close(slave)
        os.close(master)
    out, err = proc.communicate(timeout=60)
    line = _one_line(err)
    assert proc.returncode == 1, err
    assert line.startswith("metereye %s: lost %s (" % (command[0], port)), line
    assert "was the head unplugged? Plug it in and run the command again" in line
    if command[0] == "scan":
        assert line.endswith("; resume with --range 1-100")
