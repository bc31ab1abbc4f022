"""Simulated SML push meters for `metereye simulate` (German eHZ family).

Each plays one model of the one namespace (meters.MODELS) from a real telegram
in data/sml_frames.json (copied from tests/vectors/sml_vectors.json with its
source; data/README.md lists them). The telegram's whole TLV tree is kept
(sml_encode.py) and sent again every few seconds with values that move, each
message's CRC and the transport CRC computed anew:

    sml-ehz, sml-emh  EMH eHZ: energy 1.8.0/1.8.1/1.8.2 and power 15.7.0, every 2 s
    sml-holley        Holley DTZ541-ZDBA: energy, power, voltages, currents, angles, every 1 s
    sml-iskra         ISKRA MT631 with its PIN entered: import, export, power, every 1 s
    sml-pinlocked     Holley DTZ541-BDBA without its PIN: 1.8.0 in whole kWh only, every 2 s
    sml-7bit          Itron OpenWay 3.HZ seen through a 7-data-bit line: bit 7 of every
                      byte lost, so every CRC fails (docs/sml.md §1)

How often each make pushes is not in the captures (1-4 s, docs/sml.md §1):
the intervals above are GUESSES. Power follows a household day (a base load,
morning and evening peaks, noise); energy is its integral, so it only rises;
voltages wander around 230 V; currents follow power. `--freeze` holds them.

An SML meter only sends: bytes it receives are logged and ignored. On a pty the
telegrams leave at 9600 Bd 8N1 paced by the pacer the IEC meters use, which
also checks that the reader's line runs at 9600 (docs/decisions.md §15).
Run on its own (until the CLI loads it through lib/metereye/protocols.py):

    python -m metereye_tools.sml_simulator sml-holley --pty [--speed F] [--seconds N]
"""

import json
import math
import os
import sys
import time

from metereye.sml import FRAMING, LINE_BAUD
from metereye_tools import simulator, sml_encode

FRAMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sml_frames.json")

# name: (frame id, push every s (GUESS), bit 7 lost on the line)
PLAYS = {
    "sml-ehz": ("emh_ehz_hw8e2a5l0ek2p", 2.0, False),
    "sml-emh": ("emh_ehz_hw8e2a5l0ek2p", 2.0, False),
    "sml-holley": ("holley_dtz541_zdba", 1.0, False),
    "sml-iskra": ("iskra_mt631_with_pin", 1.0, False),
    "sml-pinlocked": ("holley_dtz541_bdba_without_pin", 2.0, False),
    "sml-7bit": ("itron_openway3hz", 2.0, True),
}

_ENERGY = ("1-0:1.8.0*255", "1-0:1.8.1*255")         # tariff 1 runs with the total
_POWER = ("1-0:16.7.0*255", "1-0:15.7.0*255")
# Per phase: (power, voltage, current) ids and the phase's share of the load.
_PHASES = (("1-0:36.7.0*255", "1-0:32.7.0*255", "1-0:31.7.0*255", 0.5),
           ("1-0:56.7.0*255", "1-0:52.7.0*255", "1-0:51.7.0*255", 0.3),
           ("1-0:76.7.0*255", "1-0:72.7.0*255", "1-0:71.7.0*255", 0.2))


def frame_bytes(frame_id):
    """The bytes of one telegram of data/sml_frames.json."""
    with open(FRAMES, encoding="utf-8") as f:
        for item in json.load(f)["frames"]:
            if item["id"] == frame_id:
                return bytes.fromhex(item["hex"])
    raise KeyError("no frame %r in %s" % (frame_id, FRAMES))


class _Telegram(bytes):
    """Bytes labelled for the pacer's log and its line-speed check."""

    label = "telegram"


def household_power_w(t, start_of_day_s=7 * 3600):
    """A household's draw at simulated second t: 150 W base, a morning and an
    evening peak, a slow wobble."""
    hour = ((t + start_of_day_s) / 3600.0) % 24
    watts = 150.0
    if 6 <= hour < 8:
        watts += 1800.0
    elif 18 <= hour < 21:
        watts += 1200.0
    elif 8 <= hour < 18:
        watts += 250.0
    return watts * (1.0 + 0.08 * math.sin(t / 7.0))


class SmlMeter(simulator.SimulatedMeter):
    """A meter that pushes its telegram at 9600 8N1, values moving."""

    protocol = "sml"
    baud = LINE_BAUD
    framing = FRAMING

    def __init__(self, name, faults, **kw):
        super().__init__(name, faults, **kw)
        frame_id, self.every_s, self.seven_bits = PLAYS[name]
        real = frame_bytes(frame_id)
        self.pad = real[-3]
        self.messages = sml_encode.messages(real)
        self.entries = {sml_encode.entry_obis(n): n for n in sml_encode.val_list(self.messages)}
        self.energy_wh = self._value("1-0:1.8.0*255") or 0.0
        self.tariff_wh = self._value("1-0:1.8.1*255") or 0.0
        self.sent = 0
        self.next_push = 0.0
        self._last_t = 0.0
        self._pacer = None

    # --- values -------------------------------------------------------------
    def _value(self, obis):
        node = self.entries.get(obis)
        if node is None or node[1][5][0] not in ("u", "i"):
            return None
        return node[1][5][2] * 10.0 ** self._scaler(node)

    @staticmethod
    def _scaler(node):
        s = node[1][4]
        return s[2] if s[0] == "i" or s[0] == "u" else 0

    def _set(self, obis, value):
        node = self.entries.get(obis)
        if node is None or node[1][5][0] not in ("u", "i"):
            return
        v = node[1][5]
        raw = int(round(value / 10.0 ** self._scaler(node)))
        if v[0] == "u" and raw < 0:
            raw = 0
        v[2] = raw

    def advance(self):
        """Move the values on to now: energy integrates power, so it only rises."""
        t = self.sim_time()
        dt = t - self._last_t
        if dt > 0:
            wh = household_power_w(self._last_t) * dt / 3600.0
            self.energy_wh += wh
            self.tariff_wh += wh
            self._last_t = t
        power = household_power_w(t) * (1.0 + 0.03 * self.faults.rng.uniform(-1, 1)) if not self.freeze \
            else household_power_w(0)
        for obis in _POWER:
            self._set(obis, power)
        self._set(_ENERGY[0], self.energy_wh)
        self._set(_ENERGY[1], self.tariff_wh)
        for p_id, u_id, i_id, share in _PHASES:
            volts = 230.0 + (0 if self.freeze else 2.0 * math.sin(t / 13.0 + share * 10))
            self._set(p_id, power * share)
            self._set(u_id, volts)
            self._set(i_id, power * share / volts)

    def telegram(self):
        """The next telegram on the wire: values now, the transaction ids counted on."""
        self.advance()
        self.sent += 1
        for node in self.messages:
            tid = node[1][0]
            if tid[0] == "o" and tid[1]:
                n = (int.from_bytes(tid[1], "big") + 3) % (1 << (8 * len(tid[1])))
                tid[1] = n.to_bytes(len(tid[1]), "big")
        data = sml_encode.rebuild(self.messages, "x25", self.pad)
        if self.seven_bits:
            data = bytes(b & 0x7F for b in data)
        return data

    # --- the line -------------------------------------------------------------
    def attach(self, sim):
        """Serve through `sim`: its pacer gives the meter its clock tick and
        checks the reader's line speed as bytes leave."""
        from metereye_tools.iec_simulator import LinePacer
        self._pacer = sim.pacer = LinePacer(self, sim)

    def listen_baud(self):
        return LINE_BAUD

    def feed(self, data):
        self.log({"event": "received", "bytes": len(data), "note": "an SML meter only sends"})
        return []

    def tick(self, pacer, now):
        """Called as the simulator loop turns: push when the time comes."""
        if not self.eye_on() or pacer.free_at > now:
            return                          # asleep, or the last telegram is still on the wire
        t = self.sim_time() if not self.freeze else (self._clock() - self._t0) * self.speed
        if t < self.next_push:
            return
        if t - self.next_push > self.every_s:
            self.next_push = t              # nobody listened for a while: no backlog
        self.next_push += self.every_s
        pacer.add(_Telegram(self.mangle(self.telegram())), 0, LINE_BAUD, FRAMING, now)


simulator.register_meter_class("sml", SmlMeter)


def main(argv=None):
    """Play one SML meter on a pty or TCP port (the first line printed says where)."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m metereye_tools.sml_simulator")
    p.add_argument("meter", choices=sorted(PLAYS))
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true")
    where.add_argument("--tcp", type=int)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--freeze", action="store_true")
    p.add_argument("--garble", type=float, default=0.0)
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--log")
    args = p.parse_args(argv)
    meter = simulator.make_meter(args.meter, simulator.Faults(garble=args.garble), log_path=args.log,
                                 speed=args.speed, freeze=args.freeze)
    sim = simulator.Simulation(meter, echo=False)
    meter.attach(sim)
    if args.pty:
        print(sim.open_pty(), flush=True)
    else:
        print("tcp 127.0.0.1:%d" % sim.open_tcp(args.tcp), flush=True)
    try:
        sim.run(time.monotonic() + args.seconds if args.seconds else None)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
