"""The simulated SML meters, read over a real pty by a small pyserial reader and
decoded by lib/metereye/sml.py: values that move, correct CRCs, the PIN-locked
and 7-bit variants, and a reader at the wrong speed hearing nothing good."""

import json
import os
import subprocess
import sys
import time

import serial

from metereye import sml
from metereye.errors import SevenBitLine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SmlSim:
    """`python -m metereye_tools.sml_simulator METER --pty` as a real process."""

    def __init__(self, meter, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "metereye_tools.sml_simulator", meter,
                                      "--pty", *args], stdout=subprocess.PIPE, text=True)
        self.port = self.proc.stdout.readline().strip()
        assert self.port, "the simulator did not start"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def listen(port, seconds, baud=9600, want=None):
    """Every event a reader at `baud` 8N1 decodes within `seconds` (or once
    `want` telegrams came)."""
    reader = sml.SmlReader()
    events = []
    with serial.Serial(port, baud, bytesize=8, parity="N", stopbits=1, timeout=0.1) as line:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            events.extend(reader.feed(line.read(512)))
            if want and sum(isinstance(e, sml.Telegram) for e in events) >= want:
                break
    return events


def test_a_simulated_holley_pushes_good_telegrams_with_moving_values():
    with SmlSim("sml-holley", "--speed", "600") as sim:
        events = listen(sim.port, 20, want=4)
    telegrams = [e for e in events if isinstance(e, sml.Telegram)]
    assert len(telegrams) >= 4, events
    # The first telegram may have been joined half-way: only it may be cut.
    assert all(isinstance(e, sml.Telegram) for e in events[1:]), events
    energies = [t.find("1-0:1.8.1*255").raw for t in telegrams]
    powers = [t.find("1-0:16.7.0*255").raw for t in telegrams]
    assert energies == sorted(energies) and energies[-1] > energies[0], energies
    assert len(set(powers)) > 1, powers
    for t in telegrams:
        assert t.crc == "x25" and [m[1] for m in t.messages] == ["x25"] * 3
        assert t.manufacturer == "HLY" and len(t.entries) == 21
        volts = t.find("1-0:32.7.0*255")
        assert volts.unit == "V" and 220 < volts.raw * 10 ** volts.scaler < 240


def test_a_pin_locked_meter_sends_only_its_energy_register():
    with SmlSim("sml-pinlocked") as sim:
        events = listen(sim.port, 10, want=1)
    t = [e for e in events if isinstance(e, sml.Telegram)][0]
    numbers = [e.obis for e in t.entries if e.is_number]
    assert numbers == ["1-0:1.8.0*255"] and t.find("1-0:1.8.0*255").scaler == 3
    assert t.reduced


def test_a_seven_bit_line_gives_seven_bit_errors_only():
    with SmlSim("sml-7bit") as sim:
        events = listen(sim.port, 8)
    assert events and not any(isinstance(e, sml.Telegram) for e in events)
    assert sum(isinstance(e, SevenBitLine) for e in events) >= 1, events


def test_a_reader_at_the_wrong_speed_hears_no_telegram():
    with SmlSim("sml-iskra") as sim:
        with serial.Serial(sim.port, 2400, timeout=0.1) as line:
            data = bytearray()
            end = time.monotonic() + 4
            while time.monotonic() < end:
                data.extend(line.read(512))
    events = sml.decode(bytes(data))
    assert len(data) > 50 and not any(isinstance(e, sml.Telegram) for e in events), (len(data), events)


def test_the_simulators_frames_are_the_vectors_bytes():
    with open(os.path.join(ROOT, "tests", "vectors", "sml_vectors.json"), encoding="utf-8") as f:
        vectors = {v["id"]: v for v in json.load(f)["vectors"]}
    with open(os.path.join(ROOT, "tools", "metereye_tools", "data", "sml_frames.json"), encoding="utf-8") as f:
        served = json.load(f)["frames"]
    assert len(served) == 5
    for v in served:
        assert v["hex"] == vectors[v["id"]]["hex"] and v["source"] == vectors[v["id"]]["source"], v["id"]
