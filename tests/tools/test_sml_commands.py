"""The SML PC commands (tools/metereye_tools/sml_commands.py), called directly:
decode of real captures, read and follow against the simulated meters over a
real pty, a silent port, a 7-bit line, and probe."""

import json
import os
import pty
import types

from test_sml_simulator import SmlSim

from metereye import meters
from metereye_tools import sml_commands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _vectors():
    with open(os.path.join(ROOT, "tests", "vectors", "sml_vectors.json"), encoding="utf-8") as f:
        return {v["id"]: v for v in json.load(f)["vectors"]}


def _args(port, **kw):
    base = {"port": port, "json": True, "follow": False, "seconds": 10}
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_decode_prints_json_and_exits_by_the_check(capsys):
    v = _vectors()
    assert sml_commands.decode(bytes.fromhex(v["iskra_mt631_with_pin"]["hex"]), True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["crc_ok"] and [o["value"] for o in out["objects"]][2:] == ["2043104.7", "0.0", "193"]
    # Hex text, as libsml-testing's .hex dumps hold it, decodes alike.
    hex_text = v["holley_dtz541_zdba"]["hex"].encode()
    assert sml_commands.decode(hex_text[:200] + b"\n" + hex_text[200:], False) == 0
    text = capsys.readouterr().out
    assert "232.3 V  [voltage_l1]" in text and "CRC-16/X-25 ok" in text
    assert sml_commands.decode(bytes.fromhex(v["itron_openway3hz_7bit_capture"]["hex"]), False) == 1
    assert "read at 8N1" in capsys.readouterr().out
    assert sml_commands.decode(b"/ISk5MT174-0001\r\n1.8.0(001234.5*kWh)\r\n!\r\n", False) == 2
    assert "IEC 62056-21" in capsys.readouterr().err


def test_read_prints_the_first_good_telegram(capsys):
    with SmlSim("sml-iskra") as sim:
        status = sml_commands.read(_args(sim.port), meters.find("sml-iskra"))
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0 and out["protocol"] == "sml" and out["meter_model"] == "sml-iskra"
    assert out["meter"]["manufacturer"] == "ISK" and out["crc"] == "x25"
    assert {o["obis"] for o in out["objects"]} >= {"1-0:1.8.0*255", "1-0:16.7.0*255"}


def test_follow_prints_every_telegram(capsys):
    with SmlSim("sml-emh", "--speed", "5") as sim:
        status = sml_commands.read(_args(sim.port, follow=True, seconds=4), meters.find("sml-emh"))
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert status == 0 and len(lines) >= 3
    energy = [next(o["raw"] for o in x["objects"] if o["obis"] == "1-0:1.8.0*255") for x in lines]
    assert energy == sorted(energy) and energy[-1] > energy[0]


def test_a_silent_port_and_a_seven_bit_line_say_what_to_check(capsys):
    master, slave = pty.openpty()
    try:
        status = sml_commands.read(_args(os.ttyname(slave), json=False, seconds=1.5), None)
    finally:
        os.close(master)
        os.close(slave)
    assert status == 1 and "silent" in capsys.readouterr().err
    with SmlSim("sml-7bit") as sim:
        status = sml_commands.read(_args(sim.port, seconds=6), meters.find("sml-7bit"))
    captured = capsys.readouterr()
    assert status == 1 and json.loads(captured.out)["error"] == "seven_bits" and "8N1" in captured.err


def test_probe_finds_an_sml_meter_and_nothing_on_a_silent_port():
    with SmlSim("sml-holley") as sim:
        found = sml_commands.probe(sim.port, 6)
    assert found["protocol"] == "sml" and found["manufacturer"] == "HLY" and found["baud"] == 9600
    assert found["read"].endswith("--meter sml-ehz")
    master, slave = pty.openpty()
    try:
        assert sml_commands.probe(os.ttyname(slave), 1) is None
    finally:
        os.close(master)
        os.close(slave)
