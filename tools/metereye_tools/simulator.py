"""Simulated meters behind a pty or a TCP port: `metereye simulate`.

A simulated meter answers like the real one: the registers and units of the
published frames, values that move over time, bytes paced at the line's baud
rate and framing, a reaction delay, the echo an IR head sees of its own light,
and the faults users report (a port that needs the magnet, garbled bytes, a
lock-out after too many requests). Time runs `speed` times faster than the
wall clock so tests can cover hours in seconds.

"The magnet" is a file: while it holds "1" the magnet is on the meter; each
change from absent to present is one application (wakes the eye, lifts a
lock-out). The firmware's wake output on the unix port writes that file.
"""

import json
import os
import random
import select
import socket
import termios
import time
import tty

from metereye import kmp, protocols
from metereye.actions import bits_per_char
from metereye.meters import details, find

# Linux termios speed codes (CBAUD) <-> baud; MicroPython's termios lacks the
# low ones as names but writes the same codes.
SPEED_CODES = {7: 300, 8: 600, 9: 1200, 11: 2400, 12: 4800, 13: 9600, 14: 19200,
               15: 38400, 4097: 57600, 4098: 115200}


class Reply:
    """Bytes the meter sends `after_s` (simulated seconds) from now, paced at baud."""

    def __init__(self, data, after_s, baud, framing):
        self.data = data
        self.after_s = after_s
        self.baud = baud
        self.framing = framing


class Faults:
    """The defects a simulated meter reproduces on purpose."""

    def __init__(self, need_magnet=False, awake_s=300.0, lockout=None,
                 lockout_release_s=None, garble=0.0, noise=False, seed=None):
        self.need_magnet = need_magnet
        self.awake_s = awake_s
        self.lockout = lockout                  # (requests, period_s) or None
        self.lockout_release_s = lockout_release_s
        self.garble = garble
        self.noise = noise
        self.rng = random.Random(seed)


class SimulatedMeter:
    """What every simulated meter shares: clock, magnet, lock-out, command log."""

    protocol = None
    baud = 1200
    framing = "8N2"
    reaction_s = 0.05

    def __init__(self, name, faults, log_path=None, clock=time.monotonic, speed=1.0, freeze=False):
        self.name = name
        self.freeze = freeze
        self.faults = faults
        self.speed = speed
        self._clock = clock
        self._t0 = clock()
        self.log_path = log_path
        self.magnet = False
        self.awake_until = None if faults.need_magnet else float("inf")
        self.locked_since = None
        self.requests = []          # simulated times of recent requests
        self.commands = 0

    def sim_time(self):
        """Simulated seconds since start (0 while frozen: values stand still)."""
        if self.freeze:
            return 0.0
        return (self._clock() - self._t0) * self.speed

    # --- magnet and lock-out -----------------------------------------------
    def set_magnet(self, present):
        if present and not self.magnet:
            now = self.sim_time()
            self.awake_until = now + self.faults.awake_s if self.faults.need_magnet else float("inf")
            self.locked_since = None
            self.requests = []
            self.log({"event": "magnet applied"})
        self.magnet = present

    def eye_on(self):
        """Whether the optical port listens now."""
        now = self.sim_time()
        if self.awake_until is not None and now > self.awake_until:
            return False
        if self.awake_until is None:
            return False
        if self.locked_since is not None:
            release = self.faults.lockout_release_s
            if release is not None and now - self.locked_since >= release:
                self.locked_since = None
                self.requests = []
            else:
                return False
        return True

    def count_request(self):
        """Record one request; True when the meter answers it."""
        if not self.eye_on():
            return False
        lock = self.faults.lockout
        if lock:
            limit, period = lock
            now = self.sim_time()
            self.requests = [t for t in self.requests if now - t < period]
            self.requests.append(now)
            if len(self.requests) > limit:
                self.locked_since = now
                self.log({"event": "lock-out"})
                return False
        return True

    def mangle(self, data):
        """Garbled bytes and line noise, when those faults are on."""
        f = self.faults
        if f.garble and f.rng.random() < f.garble:
            data = bytearray(data)
            i = f.rng.randrange(1, len(data))
            data[i] ^= 1 << f.rng.randrange(8)
            data = bytes(data)
        if f.noise:
            # What an idle IR receiver picks up: bursts of 0x00/0xFF-like bytes.
            data = bytes(f.rng.choice((0x00, 0xFF, 0xFE, 0xF8, 0x7F, 0xE0))
                         for _ in range(f.rng.randrange(1, 6))) + data
        return data

    def log(self, record):
        if not self.log_path:
            return
        record = dict(record, t=round(self.sim_time(), 3), meter=self.name)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def listen_baud(self):
        return self.baud

    def feed(self, data):
        """Bytes from the reader in; Replies out."""
        raise NotImplementedError


class KmpMeter(SimulatedMeter):
    """A Kamstrup meter: answers GetType, GetSerialNo and GetRegister."""

    protocol = "kmp"

    def __init__(self, name, faults, **kw):
        super().__init__(name, faults, **kw)
        self.model = details(name)
        self.reader = kmp.KmpReader()
        water = self.model.serial_register is not None
        self.serial = 75749993 if water else 19088743
        self.meter_type = b"\x00\x04\x06\x01"
        # Starting values from the published frames (kmp_vectors.json).
        self.volume_l = 831403 if water else 1875560
        self.energy_kwh = 0 if water else 55648
        self.hours = 54888
        self._last_t = 0.0
        # The simulated day starts at 07:00 so a demo sees water flowing at once.
        self.start_of_day_s = 7 * 3600

    def flow_lph(self, t):
        """Household-like flow: a base load with morning and evening peaks."""
        hour = ((t + self.start_of_day_s) / 3600.0) % 24
        if 6 <= hour < 8 or 18 <= hour < 21:
            return 420
        if 8 <= hour < 18:
            return 35
        return 0 if hour < 5 else 12

    def advance(self):
        t = self.sim_time()
        dt = t - self._last_t
        if dt > 0:
            self.volume_l += self.flow_lph(self._last_t) * dt / 3600.0
            self.energy_kwh += 6.5 * dt / 3600.0
            self._last_t = t

    def register_value(self, rid):
        """(raw, exponent) of register `rid` now, or None when this meter lacks it."""
        t = self.sim_time()
        flow = self.flow_lph(t)
        clock_s = t + self.start_of_day_s
        water = self.model.serial_register is not None
        volume = int(self.volume_l)
        values = {
            68: (volume, -3) if water else (volume // 10, -2),
            74: (flow, 0),
            243: (0, -3),
            292: (20, 0),
            299: (21, 0),
            99: (0, 0),
            1004: (self.hours + int(t // 3600), 0),
            1001: (self.serial, 0),
            1002: (int(clock_s % 86400 // 3600) * 10000 + int(clock_s % 3600 // 60) * 100
                   + int(clock_s % 60), 0),
            1003: (221125, 0),
            582: (5152 - int(t // 86400), 0),
            60: (int(self.energy_kwh), -3),
            63: (0, -3),
            80: (65, -1),
            86: (6725, -2),
            87: (2691, -2),
            89: (4034, -2),
            124: (245, 0),
            128: (183, -1),
            139: (245, 0),
            143: (120, -1),
        }
        return values.get(rid)

    def feed(self, data):
        replies = []
        for ev in self.reader.feed(data):
            if not isinstance(ev, kmp.Frame) or ev.direction != "request":
                continue
            replies.extend(self._answer(ev))
        return replies

    def _answer(self, frame):
        self.commands += 1
        record = {"protocol": "kmp", "cid": frame.cid}
        if frame.cid == kmp.GET_REGISTER:
            try:
                record["registers"] = kmp.decode_requested_ids(frame.data)
            except Exception:
                record["registers"] = None
        answering = self.count_request()
        record["answered"] = answering
        self.log(record)
        if not answering or frame.address != kmp.ADDRESS_METER:
            return []
        self.advance()
        cid = frame.cid
        if cid == kmp.GET_TYPE:
            data = self.meter_type
        elif cid == kmp.GET_SERIAL:
            data = bytes(((self.serial >> s) & 0xFF for s in (24, 16, 8, 0)))
        elif cid == kmp.GET_REGISTER:
            ids = record["registers"] or []
            data = b""
            rows = {row[0]: row for row in self.model.registers}
            for rid in ids:
                row = rows.get(rid)
                value = self.register_value(rid)
                if row is None or value is None:
                    continue            # a real meter leaves out what it lacks
                raw, exponent = value
                data += kmp.encode_register(rid, row[1], raw, exponent, row[3])
        else:
            # Writing commands get the bare ACK real meters send (kmp.md §5);
            # the log above is how tests prove none ever arrives.
            return [Reply(self.mangle(b"\x06"), self.reaction_s, self.baud, self.framing)]
        wire = kmp.encode_response(cid, data)
        return [Reply(self.mangle(wire), self.reaction_s, self.baud, self.framing)]


_FACTORIES = {"kmp": KmpMeter}     # by protocol family (lib/metereye/protocols.py)


def register_meter_class(family, cls):
    """A family's simulator module plugs its meters in here (one loop for every protocol)."""
    _FACTORIES[family] = cls


def load_simulators():
    """Import the simulator module every row of the protocol table names; each
    registers its meters. A module this installation lacks is skipped."""
    for name in sorted({protocols.Protocol(row).simulator for row in protocols.PROTOCOLS}):
        try:
            protocols.load(name)
        except ImportError:
            pass


def _meter_class(protocol):
    return _FACTORIES.get(protocols.find(protocol).family)


def simulated_models():
    """(name, protocol, description) of every meter `simulate` can play."""
    from metereye.meters import MODELS
    return [(row[0], row[1], row[3]) for row in MODELS if _meter_class(row[1]) is not None]


def make_meter(name, faults, **kw):
    row = find(name)
    cls = _meter_class(row[1]) if row is not None else None
    if cls is None:
        raise KeyError(name)
    return cls(name, faults, **kw)


class Pacer:
    """Schedules outgoing bytes at the line's character time."""

    def __init__(self, speed):
        self.speed = speed
        self.queue = []             # (due monotonic time, byte)
        self.free_at = 0.0

    def add(self, data, after_s, baud, framing, now):
        """Queue `data` to start `after_s` after the line is free, one char at a time."""
        char_s = bits_per_char(framing) / baud / self.speed
        t = max(now, self.free_at) + after_s / self.speed
        for b in data:
            t += char_s
            self.queue.append((t, b))
        self.free_at = t

    def due(self, now):
        n = 0
        while n < len(self.queue) and self.queue[n][0] <= now:
            n += 1
        out = bytes(b for _, b in self.queue[:n])
        del self.queue[:n]
        return out

    def next_due(self):
        return self.queue[0][0] if self.queue else None


class Simulation:
    """The loop that connects a SimulatedMeter to a pty or TCP clients."""

    def __init__(self, meter, echo=True, magnet_file=None, speed_check=True):
        self.meter = meter
        self.echo = echo
        self.magnet_file = magnet_file
        self.speed_check = speed_check
        self.pacer = Pacer(meter.speed)
        self._magnet_checked = 0.0

    # --- endpoints ----------------------------------------------------------
    def open_pty(self):
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = termios.B1200 if self.meter.baud == 1200 else termios.B300
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.master, self.slave = master, slave     # slave kept open: no EIO between clients
        self.path = os.ttyname(slave)
        return self.path

    def open_tcp(self, port, host="127.0.0.1"):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, port))
        srv.listen(4)
        self.server = srv
        self.master = None
        self.port = srv.getsockname()[1]
        return self.port

    # --- the loop -----------------------------------------------------------
    def _poll_magnet(self, now):
        if not self.magnet_file or now - self._magnet_checked < 0.05:
            return
        self._magnet_checked = now
        try:
            with open(self.magnet_file) as f:
                present = f.read(1) == "1"
        except OSError:
            present = False
        self.meter.set_magnet(present)

    def _line_speed(self):
        if self.master is None or not self.speed_check:
            return None
        try:
            code = termios.tcgetattr(self.master)[4]
        except termios.error:
            return None
        return SPEED_CODES.get(code)

    def _incoming(self, data, now):
        # A pty delivers the reader's bytes at once; on a real line they take
        # their wire time, and the meter answers only after the last one. The
        # echo comes back as they go out.
        baud, framing = self.meter.listen_baud(), self.meter.framing
        if self.echo:
            self.pacer.add(data, 0, baud, framing, now)
        else:
            self.pacer.free_at = max(now, self.pacer.free_at) + (
                len(data) * bits_per_char(framing) / baud / self.pacer.speed)
        speed = self._line_speed()
        if speed is not None and speed != self.meter.listen_baud():
            # The reader is at the wrong speed: the meter hears noise.
            self.meter.log({"event": "wrong speed", "baud": speed})
            return
        for reply in self.meter.feed(data):
            self.pacer.add(reply.data, reply.after_s, reply.baud, reply.framing, time.monotonic())

    def run(self, until=None):
        """Serve until `until` (monotonic seconds) or forever."""
        client = None
        while until is None or time.monotonic() < until:
            now = time.monotonic()
            self._poll_magnet(now)
            nxt = self.pacer.next_due()
            timeout = 0.05 if nxt is None else max(0.0, min(0.05, nxt - now))
            watch = []
            if self.master is not None:
                watch.append(self.master)
            else:
                watch.append(client if client is not None else self.server)
            ready, _, _ = select.select(watch, [], [], timeout)
            now = time.monotonic()
            for r in ready:
                if self.master is None and r is self.server:
                    client, _ = self.server.accept()
                    client.setblocking(False)
                    continue
                try:
                    data = os.read(self.master, 4096) if self.master is not None else client.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    if client is not None:
                        client.close()
                        client = None
                        self.pacer.queue.clear()
                    else:
                        time.sleep(0.01)
                    continue
                self._incoming(data, now)
            out = self.pacer.due(time.monotonic())
            if out:
                try:
                    if self.master is not None:
                        os.write(self.master, out)
                    elif client is not None:
                        client.sendall(out)
                except OSError:
                    pass
