"""Simulated IEC 62056-21 and P1 meters for `metereye simulate`.

Each plays one model of the one namespace (meters.MODELS) with a real readout
from data/iec_readouts.json (copied from tests/vectors/iec_vectors.json, each
with its source; data/README.md lists them). The simulator
frames the vector's data lines itself (docs/decisions.md §16): identification, STX, the
data lines, "!" CR LF ETX and a BCC it computes; a push is identification, data
lines, "!" [CRC-16] CR LF. The faults (--garble, --noise) reproduce the
published defects on purpose.

    iec-electricity  mode C, offers 9600 Bd, switches after our ACK (Landis+Gyr ZMD120AP)
    iec-noswitch     mode C, offers 9600 Bd, stays at 300 (the same readout)
    multical66c      mode A, all at 300 Bd (Kamstrup Multical 66C)
    ultraheat-uh50   mode B, 300 then 2400 Bd 7E2, answers only after a NUL pre-roll
    ultraheat-t550   as the UH50, but two blank lines where the identification goes
                     (docs/iec62056-21.md §6), then the published T550 readout at 2400 Bd
    iec-push         mode D, pushes every 2 s at 9600 7E1 (EasyMeter Q3DA1024)
    dsmr-p1          DSMR 5, pushes every second at 115200 8N1 with CRC (Iskra MT382)
    dsmr3-p1         DSMR 2.2, pushes every 10 s at 9600 7E1, no CRC (Iskra MT382)

Speeds and timing. Characters are paced at the reply's baud with 10 (7E1) or
11 (7E2) bits each, `--speed` times faster. The meter's reaction times run at
wall-clock pace whatever `--speed` says: the reader on the other side is real,
its ACK takes 200 ms to leave a 300 Bd wire, and a meter that answered before
the reader could have switched would test the race, not the reader. On a pty
the meter checks, as each byte leaves, that the reader's line runs at the
byte's speed (the master sees the slave's speed; docs/decisions.md §15: speed only, not
framing); a byte at the wrong speed arrives as what a UART makes of it, and the
log says so. Over TCP it switches after the ACK without checking.

The log (--log) gets one JSON line per message received (request, ack, every
programming command, W and E included, so tests can prove none arrives) and
per message sent (with the speed sent at and the reader's line speed).
"""

import json
import os
import time

from metereye import iec
from metereye.actions import bits_per_char
from metereye.crc import bcc, crc16_arc
from metereye_tools import simulator

REACTION_S = 0.2        # IEC 62056-21 §3: the meter's minimum reaction time (docs/iec62056-21.md §3)
ACK_WAIT_S = 2.0        # after its identification a mode C meter waits tr max (1.5 s) and slack
# ultraheat-api sends 40 NULs (1.5 s at 7E2); the standard's battery wake-up
# sends NULs for 2.1-2.3 s. The simulated UH50 wants at least 1 s of them.
PREROLL_NULS = 30
PROGRAMMING_IDLE_S = 5.0

# name: (vector id, mode, framing, line baud of a push or of the T550's data, push every s,
# CRC on the push)
PLAYS = {
    "iec-electricity": ("lgz-zmd120ap-vzlogger-readout", "C", "7E1", None, None, False),
    "iec-noswitch": ("lgz-zmd120ap-vzlogger-readout", "C-noswitch", "7E1", None, None, False),
    "multical66c": ("kamstrup-mc66-jonkerj-readout", "A", "7E1", None, None, False),
    "ultraheat-uh50": ("ultraheat-uh50-reconstructed", "B", "7E2", None, None, False),
    "ultraheat-t550": ("ultraheat-t550-vpathuis-stripped", "B-blank", "7E2", 2400, None, False),
    # DSMR 5 pushes every second, DSMR 2.2/3 every 10 s; the eHZ/EasyMeter
    # interval is not in the research: 2 s is a guess.
    "iec-push": ("easymeter-q3da1024-jonkerj", "D", "7E1", 9600, 2.0, False),
    "dsmr-p1": ("dsmr50-iskra-mt382-1000", "D", "8N1", 115200, 1.0, True),
    "dsmr3-p1": ("dsmr22-iskra-mt382-1004", "D", "7E1", 9600, 10.0, False),
}


READOUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "iec_readouts.json")


def vector_bytes(vector_id):
    """The bytes of one readout of data/iec_readouts.json, masked to 7 bits."""
    with open(READOUTS, encoding="utf-8") as f:
        items = json.load(f)["readouts"]
    for v in items:
        if v["id"] == vector_id:
            return bytes(b & 0x7F for b in bytes.fromhex(v["hex"].replace(" ", "")))
    raise KeyError("no readout %r in %s" % (vector_id, READOUTS))


def split_readout(raw):
    """(identification without "/" and CR LF, data lines before the end "!") of a
    capture; the identification is None where blank lines stand for it (the T550)."""
    i = 0
    while True:
        i = raw.find(b"/", i)
        if i < 0 or raw[i + 1:i + 2] != b"?":   # our own request's echo is not the meter
            break
        i += 1
    if i < 0:
        ident = None
        body = raw.lstrip(b"\r\n")
    else:
        j = raw.index(b"\n", i)
        ident = raw[i + 1:j].rstrip(b"\r")
        body = raw[j + 1:]
    if body[:1] == b"\x02":
        body = body[1:]
    return ident, body[:body.rindex(b"!")]


def readout(data_lines):
    """STX data "!" CR LF ETX BCC: the data message of modes A-C."""
    body = data_lines + b"!\r\n\x03"
    return b"\x02" + body + bytes((bcc(body),))


def push(ident, data_lines, with_crc):
    """A pushed telegram; DSMR 4/5 close it with a CRC-16/ARC from "/" through "!"."""
    out = b"/" + ident + b"\r\n" + data_lines + b"!"
    if with_crc:
        out += b"%04X" % crc16_arc(out)
    return out + b"\r\n"


class _Out(bytes):
    """Bytes the meter sends, labelled for the log and the line-speed check."""

    label = None


def _out(data, label):
    o = _Out(data)
    o.label = label
    return o


class IecMeter(simulator.SimulatedMeter):
    """A meter that signs on in mode A, B or C, or pushes in mode D."""

    protocol = "iec"
    baud = 300              # the pty starts at 300 Bd (Simulation.open_pty)

    def __init__(self, name, faults, **kw):
        super().__init__(name, faults, **kw)
        vector, mode, framing, line_baud, every_s, with_crc = PLAYS[name]
        ident, lines = split_readout(vector_bytes(vector))
        self.mode = mode
        self.framing0 = framing
        self.ident = iec.parse_identification(ident.decode("ascii")) if ident is not None else None
        self.line_baud = line_baud
        if mode == "D":
            self.telegram = push(ident, lines, with_crc)
            self.every_s = every_s
            self.next_push = 0.0
        else:
            self.ident_line = b"\r\n\r\n" if mode == "B-blank" else b"/" + ident + b"\r\n"
            self.data = readout(lines)
            self.registers = self._registers(self.data)
        self._sim = None
        self._pacer = None
        self._reader = iec.IecReader()
        self._idle()

    # --- the line ---------------------------------------------------------
    def attach(self, sim):
        """Serve through `sim`: its pacer checks the reader's line speed as bytes
        leave, and gives a pushing meter its clock tick."""
        self._sim = sim
        self._pacer = sim.pacer = LinePacer(self, sim)

    def _idle(self):
        self.state = "idle"
        self.expires = None
        self.listen = self.line_baud if self.mode == "D" else 300
        self.framing = self.framing0
        self._nuls = 0
        self._cmd = None

    def _busy_until(self, real_s, state="busy"):
        self.state = state
        self.expires = time.monotonic() + real_s

    def _expire(self):
        if self.expires is not None and time.monotonic() > self.expires:
            if self.state == "await_ack":
                self.log({"event": "no acknowledgement: back to 300 Bd"})
            self._idle()
            self._reader.reset()

    def listen_baud(self):
        self._expire()
        return self.listen

    def _line_free_in(self):
        """Real seconds until what is queued has left (echo included)."""
        if self._pacer is None:
            return 0.0
        return max(0.0, self._pacer.free_at - time.monotonic())

    def _wire_s(self, nbytes, baud, framing):
        return nbytes * bits_per_char(framing) / baud / self.speed

    def _real(self, seconds):
        """A Reply's after_s (meter seconds) that lasts `seconds` of wall clock."""
        return seconds * self.speed

    # --- what arrives -----------------------------------------------------
    def feed(self, data):
        self._expire()
        replies = []
        for b in data:
            if b == 0:
                self._nuls += 1
            for ev in self._reader.feed(bytes((b,))):
                replies.extend(self._on_event(ev))
        return replies

    def _on_event(self, ev):
        if isinstance(ev, iec.Request):
            return self._on_request(ev)
        if isinstance(ev, iec.Ack):
            return self._on_ack(ev)
        if isinstance(ev, iec.Command):
            self._cmd = [ev.command, []]
            return []
        if isinstance(ev, iec.DataSet):
            if self._cmd is not None:
                self._cmd[1].append(ev)
            return []
        if ev is iec.NAK:
            self.log({"protocol": "iec", "command": "nak"})
            return []
        if isinstance(ev, iec.End):
            return self._on_command_end(ev.ok)
        err_end = getattr(ev, "end", None)
        if err_end is not None and self._cmd is not None:
            return self._on_command_end(False)
        return []

    def _on_request(self, req):
        record = {"protocol": "iec", "command": "request", "address": req.address}
        reason = None
        if self.mode == "D":
            reason = "a pushing meter takes no requests"
        elif self.state == "busy":
            reason = "busy sending"
        elif self.mode[0] == "B" and self._nuls < PREROLL_NULS:
            reason = "asleep: no NUL pre-roll (%d NULs)" % self._nuls
        answering = reason is None and self.count_request()
        if reason is None and not answering:
            reason = "eye off or locked out"
        record["answered"] = answering
        if reason:
            record["why_not"] = reason
        self.log(record)
        self._nuls = 0
        if not answering:
            return []
        self.commands += 1
        f = self.framing0
        ident = self.mangle(self.ident_line)
        ident_s = self._wire_s(len(ident), 300, f)
        replies = [simulator.Reply(_out(ident, "identification"), REACTION_S, 300, f)]
        mode = self.mode[0]
        if mode == "A":
            data = self.mangle(self.data)
            replies.append(simulator.Reply(_out(data, "data"), REACTION_S, 300, f))
            self._busy_until(self._line_free_in() + 2 * REACTION_S + ident_s + self._wire_s(len(data), 300, f))
        elif mode == "B":
            baud = self.ident.baud if self.ident is not None else self.line_baud
            data = self.mangle(self.data)
            # The reader switches when it sees the identification's end: give it a
            # real reaction time to do so (see the module docstring).
            replies.append(simulator.Reply(_out(data, "data"), self._real(REACTION_S), baud, f))
            self.listen = baud
            self._busy_until(self._line_free_in() + 2 * REACTION_S + ident_s + self._wire_s(len(data), baud, f))
        else:
            self._busy_until(self._line_free_in() + REACTION_S + ident_s + ACK_WAIT_S, "await_ack")
        return replies

    def _on_ack(self, ack):
        self.log({"protocol": "iec", "command": "ack", "v": ack.v, "z": ack.z, "y": ack.y,
                  "answered": self.state == "await_ack"})
        if self.state != "await_ack" or ack.z is None:
            return []
        offered = self.ident.baud_char
        z = ack.z
        baud = 300
        if self.mode == "C" and "0" <= z <= offered:
            baud = iec.mode_c_baud(z)
        # The ACK left a 300 Bd wire at the reader's pace; the meter answers a
        # reaction time after that, never before the reader could switch.
        ack_s = 6 * bits_per_char(self.framing0) / 300
        after = max(REACTION_S, self._real(REACTION_S + ack_s) - ack_s)
        f = self.framing0
        self.listen = baud
        if ack.y == "0":
            data = self.mangle(self.data)
            if baud != iec.mode_c_baud(z):
                self.log({"event": "stays at 300 Bd", "asked": iec.mode_c_baud(z)})
            self._busy_until(self._line_free_in() + after / self.speed + self._wire_s(len(data), baud, f))
            return [simulator.Reply(_out(data, "data"), after, baud, f)]
        if ack.y == "1":
            # Programming mode: the meter offers its P0 operand (docs/iec62056-21.md §7).
            self._busy_until(PROGRAMMING_IDLE_S, "programming")
            p0 = iec.command("P0", b"(" + self._serial() + b")")
            return [simulator.Reply(_out(p0, "operand"), after, baud, f)]
        self._idle()
        return []

    def _on_command_end(self, ok):
        cmd = self._cmd
        self._cmd = None
        if cmd is None:
            return []
        name, sets = cmd
        data = ",".join(ds.obis + "(" + "".join(v for v, _ in ds.values) + ")" for ds in sets)
        self.log({"protocol": "iec", "command": name, "data": data, "bcc_ok": ok,
                  "answered": self.state == "programming"})
        if self.state != "programming":
            return []
        self._busy_until(PROGRAMMING_IDLE_S, "programming")
        f = self.framing0
        if not ok:
            return [simulator.Reply(b"\x15", REACTION_S, self.listen, f)]
        if name[0] == "B":
            self._idle()
            return []
        if name[0] == "R" and sets:
            value = self.registers.get(sets[0].obis)
            body = (sets[0].obis + "(" + value + ")" if value is not None else "(ERROR)").encode()
            body += b"\x03"
            return [simulator.Reply(_out(b"\x02" + body + bytes((bcc(body),)), "answer"),
                                    REACTION_S, self.listen, f)]
        # P, W and E get the bare ACK real meters send; the log above is how
        # tests prove that no W or E ever arrives.
        return [simulator.Reply(b"\x06", REACTION_S, self.listen, f)]

    # --- what it knows ----------------------------------------------------
    @staticmethod
    def _registers(data):
        """{obis: "value*unit"} of the readout, for R1 answers."""
        out = {}
        for ev in iec.IecReader(4096).feed(data):
            if isinstance(ev, iec.DataSet) and ev.values:
                v, u = ev.values[0]
                out[ev.obis] = v + ("*" + u if u is not None else "")
        return out

    def _serial(self):
        for key in ("C.1.0", "C.1", "0.0.0", "0.0", "9.20"):
            if key in self.registers:
                return self.registers[key].strip().encode()
        return self.ident.text.encode() if self.ident is not None else b""

    # --- pushing ----------------------------------------------------------
    def tick(self, pacer, now):
        """Called as the simulator loop turns: a pushing meter sends when its time comes."""
        if self.mode != "D" or not self.eye_on():
            return
        t = self.sim_time()
        if t < self.next_push:
            return
        if t - self.next_push > self.every_s:
            self.next_push = t              # nobody listened for a while: no backlog
        self.next_push += self.every_s
        data = self.mangle(self.telegram)
        pacer.add(_out(data, "telegram"), 0, self.line_baud, self.framing0, now)


class LinePacer(simulator.Pacer):
    """The simulator's pacer, with labels: as a meter's byte leaves, the reader's
    line must run at its speed (pty only), and the log notes each message sent."""

    def __init__(self, meter, sim):
        super().__init__(meter.speed)
        self.meter = meter
        self.sim = sim
        self._last_logged = None
        self._skip = 0

    def add(self, data, after_s, baud, framing, now):
        label = getattr(data, "label", None)
        char_s = bits_per_char(framing) / baud / self.speed
        t = max(now, self.free_at) + after_s / self.speed
        first = True
        for b in data:
            t += char_s
            # Our own echo carries no speed to check: the head hears its own LED.
            self.queue.append((t, b, baud if label else None, label if first else None))
            first = False
        self.free_at = t

    def due(self, now):
        self.meter.tick(self, now)
        n = 0
        queue = self.queue
        while n < len(queue) and queue[n][0] <= now:
            n += 1
        if not n:
            return b""
        items = queue[:n]
        del queue[:n]
        line = None
        for item in items:
            if item[2] is not None:
                line = self.sim._line_speed()
                break
        out = bytearray()
        for _, b, baud, label in items:
            if label is not None:
                self._note(label, baud, line)
            if baud is None or line is None or line == baud:
                out.append(b)
            else:
                out.extend(self._misheard(b, baud, line))
        return bytes(out)

    def _note(self, label, baud, line):
        key = (label, baud, line)
        if label == "telegram" and key == self._last_logged:
            return                          # one line per change, not one per push
        self._last_logged = key
        record = {"event": "send", "message": label, "baud": baud, "line_baud": line}
        if line is not None and line != baud:
            record["heard_as"] = "garbage: the reader's line is at %d Bd" % line
        self.meter.log(record)

    def _misheard(self, b, baud, line):
        """What a UART at `line` Bd makes of a character sent at `baud`: a slower
        sender's character is a long low start bit (0x00, framing errors); a
        faster sender's characters merge, one garbage byte for several."""
        if line > baud:
            return b"\xff" if b & 1 else b"\x00"
        self._skip += 1
        if self._skip * line < baud:
            return b""
        self._skip = 0
        return b"\xff" if b & 1 else b"\x80"


simulator.register_meter_class("iec", IecMeter)
