"""The README's main job, `metereye demo` (what tools/main.sh runs): the firmware
on unix MicroPython wakes and reads the simulated Multical 21, publishes to a
real broker, prints each reading and serves its page, and a TERM stops all of it."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from simhelp import METEREYE

from metereye_tools.broker import free_port


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as f:
            return json.loads(f.read())
    except OSError:
        return None


def test_the_main_job_reads_publishes_prints_and_serves_its_page_until_stopped():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "firmware"))
    from fwhelp import need_mosquitto
    need_mosquitto()
    port = free_port()
    proc = subprocess.Popen([METEREYE, "demo", "--web-port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    try:
        end = time.monotonic() + 60
        readings = []
        while time.monotonic() < end and len(readings) < 2:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  metereye-demo/multical21_75749993  "
                        r".*\bvolume \d+\.\d{3} m³, .*\bflow \d+\.\d{3} m³/h.*  \(seq \d+\)$", line):
                readings.append(line)
        out = "".join(lines)
        assert len(readings) == 2, out
        assert "the reader's page: http://127.0.0.1:%d/" % port in out, out
        # The watch command it prints runs on this machine (no mosquitto_sub needed) and shows
        # the reading with the digits and units that travelled.
        watch_line = next(l for l in lines if " watch --broker " in l).split()
        cmd = watch_line[:watch_line.index("--broker") + 2]
        assert cmd[0] in ("metereye", ".venv/bin/metereye") or cmd[0].endswith("/metereye"), watch_line
        cmd[0] = METEREYE if cmd[0] == "metereye" else cmd[0]
        watched = subprocess.run(cmd + ["--seconds", "25"], capture_output=True, text=True, timeout=60,
                                 cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        assert re.search(r"metereye-demo/multical21_75749993  .*\bvolume \d+\.\d{3} m³", watched.stdout), (
            watched.stdout + watched.stderr)
        # The page shows what was printed: the same meter, with a volume in m³.
        page = _get("http://127.0.0.1:%d/api/readings" % port)
        assert page is not None, out
        (meter,) = page["meters"]
        assert meter["meter"] == "multical21_75749993" and meter["serial"] == 75749993
        volume = {v["name"]: v for v in meter["readings"]}["volume"]
        assert volume["unit"] == "m³" and re.fullmatch(r"\d+\.\d{3}", volume["value"])
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as f:
            assert b"<title>metereye</title>" in f.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the demo did not stop on TERM:\n" + "".join(lines))
    assert _get("http://127.0.0.1:%d/api/status" % port) is None     # the firmware went with it
