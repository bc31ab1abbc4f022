"""Meters that push: IEC 62056-21 mode D and DSMR P1. Sans-I/O.

A pushing meter sends a whole telegram on its own, again and again:
identification line, data lines, "!" (DSMR 4/5: "!" and a CRC-16/ARC in four hex
digits over "/" … "!"; DSMR 2.2/3 and mode D: nothing after "!"). The line runs at
a fixed speed: 2400 or 9600 Bd 7E1 for mode D, 115200 8N1 for DSMR 4/5,
9600 7E1 for DSMR 2.2/3 (docs/iec62056-21.md §5); never take it from the baud character.
"""

from metereye import iec
from metereye.errors import FrameError


class Telegram:
    """One pushed telegram: identification, the data sets kept, and its check."""

    def __init__(self):
        self.identification = None
        self.objects = []           # DataSet events kept
        self.datasets = 0           # data sets seen, kept or not
        self.check = None           # "crc", "bcc" or None (DSMR 2.2/3, mode D)
        self.check_ok = None

    def __repr__(self):
        return "Telegram(%r, %d objects, %s %s)" % (
            self.identification, len(self.objects), self.check, self.check_ok)


class PushListener:
    """Bytes from a pushing meter in, whole telegrams out.

    feed() returns Telegram events and FrameError events; a CrcMismatch or
    Truncated carries the telegram so far as `.telegram` (what arrived is
    still listed). `keep` holds catalogue OBIS ids (obis.base) to keep, None
    keeps all. Memory: the reader's field buffer plus the kept data sets of
    one telegram.
    """

    def __init__(self, keep=None, max_field=None):
        self.keep = keep
        if keep is not None:
            from metereye.obis import base   # the catalogue only when filtering (R13)
            self._base = base
        self._reader = iec.IecReader(max_field)
        self._telegram = None

    def feed(self, data):
        """Consume bytes; return the telegrams and errors they complete."""
        return self._handle(self._reader.feed(data))

    def finish(self):
        """End of input or a long silence: a cut telegram comes out as Truncated."""
        return self._handle(self._reader.finish())

    def _handle(self, events):
        # No list for no telegram; typed as the list `out or []` makes of it.
        out: list = ()  # type: ignore[assignment]
        for ev in events:
            done = self._on_event(ev)
            if done is not None:
                out = out or []
                out.append(done)
        return out

    def _on_event(self, ev):
        t = self._telegram
        if isinstance(ev, iec.Identification):
            self._telegram = t = Telegram()
            t.identification = ev
            return None
        if isinstance(ev, iec.DataSet):
            if t is None:
                self._telegram = t = Telegram()     # a frame without identification
            t.datasets += 1
            if self.keep is None or self._base(ev.obis) in self.keep:
                t.objects.append(ev)
            return None
        if isinstance(ev, iec.End):
            self._telegram = None
            if t is None:
                t = Telegram()
            t.check = ev.check
            t.check_ok = ev.ok
            return t
        if isinstance(ev, FrameError):
            end = getattr(ev, "end", None)
            if end is not None:
                self._telegram = None
                if t is None:
                    t = Telegram()
                t.check = end.check
                t.check_ok = end.ok
                # FrameError declares no telegram: only a cut P1 telegram carries one (docstring above)
                ev.telegram = t  # type: ignore[attr-defined]
            return ev
        return None                 # requests, ACKs: not a pushing meter's business


class PushResult:
    """What listening to a pushing meter brought: the first good telegram, or why not."""

    def __init__(self, baud, framing):
        self.baud = baud
        self.framing = framing
        self.telegram = None        # the first telegram whose check passed (or had none)
        self.errors = []            # FrameError events before it
        self.bytes_received = 0
        self.identified = False     # an identification line arrived: the speed is right
        self.outcome = None         # "ok", "garbled" (bytes, no good telegram), "silent"


class PushSession:
    """Listens at a pushing meter's line speed until one whole telegram arrives.

    Sans-I/O like IecSession: SetLine, then Receive until `timeout_ms`. A
    telegram that fails its CRC or is cut does not end the session: the meter
    sends the next one within seconds. With `settle_ms`, bytes that show no
    identification line within that time after the first of them end it as
    "garbled" (the line runs at another speed): `detect` moves on sooner.
    """

    def __init__(self, baud, framing, timeout_ms, keep=None, settle_ms=None, max_field=None):
        self.baud = baud
        self.framing = framing
        self.timeout_ms = timeout_ms
        self.settle_ms = settle_ms
        self.result = PushResult(baud, framing)
        self._listener = PushListener(keep, max_field)
        self._first_ms = None
        self._text = 0              # bytes that look like telegram text

    def _readable(self):
        # The tail of a telegram (we came in mid-way) is text at the right speed;
        # at the wrong speed a UART makes 0x00, 0xFF and framing errors.
        n = self.result.bytes_received
        return n >= 16 and self._text * 10 >= n * 9

    def start(self, now_ms):
        from metereye.actions import SetLine
        return SetLine(self.baud, self.framing)

    def line_set(self, now_ms):
        from metereye.actions import Receive
        self._deadline = now_ms + self.timeout_ms
        return Receive(self._deadline)

    def received(self, data, now_ms):
        from metereye.actions import Receive
        r = self.result
        if not data:
            if now_ms < self._deadline and (r.identified or self._readable()):
                return Receive(self._deadline)      # the settle time passed: a telegram is coming
            return self._done(self._listener.finish())
        r.bytes_received += len(data)
        if self.settle_ms is not None:
            for b in data:
                b &= 0x7F
                if 0x20 <= b < 0x7F or b == 0x0D or b == 0x0A:
                    self._text += 1
        events = self._listener.feed(data)
        t = self._listener._telegram
        if t is not None and t.identification is not None:
            r.identified = True
        for ev in events:
            if isinstance(ev, Telegram):
                if ev.identification is not None:
                    r.identified = True
                if ev.check_ok is not False and (ev.objects or ev.datasets):
                    r.telegram = ev
                    r.outcome = "ok"
                    return self._finish()
            elif isinstance(ev, FrameError):
                r.errors.append(ev)
        if self._first_ms is None:
            self._first_ms = now_ms
            if self.settle_ms is not None and not r.identified:
                return Receive(min(self._deadline, now_ms + self.settle_ms))
        return None

    def _done(self, events):
        r = self.result
        for ev in events:
            if isinstance(ev, FrameError):
                r.errors.append(ev)
        if r.outcome is None:
            r.outcome = "garbled" if r.bytes_received else "silent"
        return self._finish()

    def _finish(self):
        from metereye.actions import Done
        return Done(self.result)
