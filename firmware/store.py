"""Readings waiting on flash for the targets that take them away (outbox.py):
they survive a reboot and leave in order, each target at its own pace.

queue.jsonl  one reading per line, appended as it is read, seqs rising by one
             from line to line (a power cut can only leave a torn last line,
             which load() cuts off)
queue.pos    {"seq": S, "dropped": D, "targets": {"mqtt": M, "http": H}}:
             every line up to seq S is gone for every target; each target's
             last seq confirmed (or dropped); D readings were dropped. Replaced
             whole (flashfile), so it is the old one or the new one; where each
             target's lines start in the queue is found again from the seqs at
             load, never trusted from a file

A line leaves flash only once every target has it; a target added later gets
the lines still there, and a target no longer configured holds none back.
Nothing is held in RAM but the positions: peek() reads lines from flash. When
more than `max_readings` wait for some target, the oldest are dropped first,
for every target, and counted.
"""

import json
import os

import flashfile
from metereye.reading import from_json

QUEUE = "queue.jsonl"
POS = "queue.pos"


class Store:
    COMPACT_AT = 32768     # bytes of lines every target has before the file is rewritten

    def __init__(self, max_readings=2000, folder="", targets=("out",)):
        self.max = max_readings
        self.queue = folder + QUEUE
        self.pos_path = folder + POS
        self.names = tuple(targets)
        self.cursor = {}         # target -> the last seq it has (sent, refused or dropped)
        self.offset = {}         # target -> byte offset of its next line
        self.floor = 0           # every line up to this seq is gone for every target
        self.start = 0           # byte offset of the line after `floor`
        self.last_seq = 0
        self.dropped = 0
        self.load()

    @property
    def next_seq(self):
        return self.last_seq + 1

    @property
    def pending(self):
        """Readings on flash that some target still waits for."""
        return self.last_seq - self.floor

    def waiting(self, target=None):
        """Readings `target` has still to send."""
        return self.last_seq - self.cursor[target or self.names[0]]

    def load(self):
        """Find each target's first line by seq: offsets are derived, never trusted."""
        p = flashfile.load_json(self.pos_path) or {}
        self.floor, self.dropped = p.get("seq", 0), p.get("dropped", 0)
        stored = p.get("targets") or {}
        for name in self.names:
            self.cursor[name] = max(stored.get(name, self.floor), self.floor)
            self.offset[name] = None
        last = max([self.floor] + list(self.cursor.values()))
        self.start = None
        pos = 0
        if flashfile.exists(self.queue):
            with open(self.queue) as f:
                while True:
                    line = f.readline()
                    if not line or not line.endswith("\n"):
                        break                   # a torn last line is not a reading
                    try:
                        seq = json.loads(line)["seq"]
                    except (ValueError, KeyError):
                        break
                    if self.start is None and seq > self.floor:
                        self.start = pos
                    for name in self.names:
                        if self.offset[name] is None and seq > self.cursor[name]:
                            self.offset[name] = pos
                    pos += len(line.encode())
                    last = max(last, seq)
            if pos != os.stat(self.queue)[6]:
                self._truncate(pos)
        for name in self.names:
            if self.offset[name] is None:
                self.offset[name] = pos
        if self.start is None:
            self.start = pos
        if self.names:
            # A target no longer configured holds nothing back.
            self.floor = min(self.cursor.values())
            self.start = min(self.offset.values())
        self.last_seq = last

    def _truncate(self, size):
        with open(self.queue, "rb") as f:
            keep = f.read(size)
        flashfile.write(self.queue, keep)

    def append(self, reading):
        """Queue a reading on flash; returns its seq."""
        reading.seq = self.next_seq
        line = reading.to_json(numbers=False)
        if reading.t is None:
            # No clock yet: keep when it was read (uptime) and in which boot, so it
            # can be stamped once NTP answers (outbox.py).
            line = line[:-1] + ',"up":%d,"boot":%d}' % (getattr(reading, "up", 0), getattr(reading, "boot", 0))
        with open(self.queue, "a") as f:
            f.write(line + "\n")
        self.last_seq = reading.seq
        if self.pending > self.max:
            self._drop_oldest(self.pending - self.max)
        return reading.seq

    def peek(self, target=None):
        """`target`'s next reading, or None."""
        out = self.take(target or self.names[0], 1)
        return out[0] if out else None

    def take(self, target, n):
        """`target`'s next n readings (fewer when fewer wait), in order; they stay
        on flash until pop()."""
        out = []
        count = min(n, self.waiting(target))
        if count > 0:
            with open(self.queue) as f:
                f.seek(self.offset[target])
                for _ in range(count):
                    obj = json.loads(f.readline())
                    r = from_json(obj)
                    r.extra = obj           # up/boot fields for late stamping
                    out.append(r)
        return out

    def pop(self, target=None, seq=None):
        """`target` has its next reading (or every one up to `seq`): move past it.
        A seq the target already has (dropped meanwhile) changes nothing."""
        name = target or self.names[0]
        if seq is None:
            seq = self.cursor[name] + 1
        if self.cursor[name] >= seq:
            return
        with open(self.queue) as f:
            f.seek(self.offset[name])
            self.offset[name], self.cursor[name] = _skip(f, self.offset[name], self.cursor[name], seq)
        self._settle()

    def _drop_oldest(self, n):
        upto = self.floor + n
        with open(self.queue) as f:
            for name in self.names:
                if self.cursor[name] < upto:
                    f.seek(self.offset[name])
                    self.offset[name], self.cursor[name] = _skip(f, self.offset[name], self.cursor[name], upto)
            if not self.names:
                f.seek(self.start)
                self.start, self.floor = _skip(f, self.start, self.floor, upto)
        self.dropped += n
        self._settle()

    def _settle(self):
        """After a target moved on: the new floor, saved; the file emptied or compacted
        when every target is past enough of it."""
        if self.names:
            floor = min(self.cursor.values())
            if floor != self.floor:
                self.floor = floor
                self.start = min(self.offset.values())
        self._save_pos()           # the positions first: a cut after it resends nothing
        if self.floor == self.last_seq and self.start:
            # Everything is out: start the file afresh rather than let it grow.
            flashfile.write(self.queue, "")
            self._shift(self.start)
        elif self.start > self.COMPACT_AT:
            self._compact()

    def _compact(self):
        """Keep the lines some target still needs, copied a line at a time (no big buffer)."""
        flashfile.write(self.queue, _lines(self.queue, self.start))
        self._shift(self.start)

    def _shift(self, removed):
        for name in self.names:
            self.offset[name] -= removed
        self.start -= removed

    def _save_pos(self):
        targets = ",".join('"%s":%d' % (name, self.cursor[name]) for name in self.names)
        flashfile.write(self.pos_path, '{"seq":%d,"dropped":%d,"targets":{%s}}' % (
            self.floor, self.dropped, targets))


def _skip(f, offset, seq, upto):
    """Read lines of `f` (at `offset`, after `seq`) until seq `upto`: (offset, seq) then."""
    while seq < upto:
        line = f.readline()
        if not line:
            break
        offset += len(line.encode())
        seq = json.loads(line)["seq"]
    return offset, seq


def _lines(path, offset):
    """The lines of `path` from `offset` on; the file is closed once they are all read
    (before flashfile.write renames over it)."""
    with open(path) as f:
        f.seek(offset)
        for line in f:
            yield line
