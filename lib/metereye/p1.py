"""Meters that push: IEC 62056-21 mode D and DSMR P1. Sans-I/O.

A pushing meter sends a whole telegram on its own, again and again:
identification line, data lines, "!" (DSMR 4/5: "!" and a CRC-16/ARC in four hex
digits over "/" … "!"; DSMR 2.2/3 and mode D: nothing after "!"). The line runs at
a fixed speed: 2400 or 9600 Bd 7E1 for mode D, 115200 8N1 for DSMR 4/5,
9600 7E1 for DSMR 2.2/3 (research §5); never take it from the baud character.
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
        out = ()
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
                ev.telegram = t
            return ev
        return None                 # requests, ACKs: not a pushing meter's business
