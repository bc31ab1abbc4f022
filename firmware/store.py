"""Readings waiting for the broker, on flash: survive a reboot, leave in order.

queue.jsonl  one reading per line, appended as it is read (a power cut can
             only leave a torn last line, which load() cuts off)
queue.pos    the seq of the last reading sent (or dropped) and how many were
             dropped; written to a temp file and renamed, so it is either the
             old or the new one, never half; where the unsent lines start in
             the queue is found again from the seqs at load

Nothing is held in RAM but the position: peek() reads one line from flash.
When more than `max_readings` wait, the oldest are dropped first and counted.
"""

import json
import os

from metereye.reading import from_json

QUEUE = "queue.jsonl"
POS = "queue.pos"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Store:
    COMPACT_AT = 32768     # bytes of sent or dropped lines before the file is rewritten

    def __init__(self, max_readings=2000, folder=""):
        self.max = max_readings
        self.queue = folder + QUEUE
        self.pos_path = folder + POS
        self.offset = 0          # byte offset of the first unsent line
        self.pending = 0
        self.dropped = 0
        self.next_seq = 1
        self.sent_seq = 0
        self.load()

    def load(self):
        """Find the first unsent line by seq: offsets are derived, never trusted."""
        if _exists(self.pos_path):
            with open(self.pos_path) as f:
                p = json.loads(f.read())
            self.sent_seq, self.dropped = p["seq"], p.get("dropped", 0)
        self.pending = 0
        self.offset = None
        pos = 0
        last_seq = self.sent_seq
        if _exists(self.queue):
            with open(self.queue) as f:
                while True:
                    line = f.readline()
                    if not line or not line.endswith("\n"):
                        break                   # a torn last line is not a reading
                    try:
                        seq = json.loads(line)["seq"]
                    except (ValueError, KeyError):
                        break
                    if seq > self.sent_seq:
                        self.pending += 1
                        if self.offset is None:
                            self.offset = pos
                    pos += len(line.encode())
                    last_seq = max(last_seq, seq)
            if pos != os.stat(self.queue)[6]:
                self._truncate(pos)
        if self.offset is None:
            self.offset = pos
        self.next_seq = last_seq + 1

    def _truncate(self, size):
        with open(self.queue) as f:
            keep = f.read(size) if size else ""
        _write_atomic(self.queue, keep)

    def append(self, reading):
        """Queue a reading on flash; returns its seq."""
        reading.seq = self.next_seq
        self.next_seq += 1
        line = reading.to_json(numbers=False)
        if reading.t is None:
            # No clock yet: keep when it was read (uptime) and in which boot, so it
            # can be stamped once NTP answers (mqtt.py).
            line = line[:-1] + ',"up":%d,"boot":%d}' % (getattr(reading, "up", 0), getattr(reading, "boot", 0))
        line += "\n"
        with open(self.queue, "a") as f:
            f.write(line)
        self.pending += 1
        if self.pending > self.max:
            self._drop_oldest(self.pending - self.max)
        return reading.seq

    def peek(self):
        """The oldest unsent reading, or None."""
        if not self.pending:
            return None
        with open(self.queue) as f:
            f.seek(self.offset)
            line = f.readline()
        obj = json.loads(line)
        r = from_json(obj)
        r.extra = obj           # up/boot fields for late stamping
        return r

    def pop(self):
        """The oldest unsent reading was acknowledged: move past it."""
        with open(self.queue) as f:
            f.seek(self.offset)
            line = f.readline()
        self.offset += len(line.encode())
        self.sent_seq = json.loads(line)["seq"]
        self.pending -= 1
        self._save_pos()           # the position first: a cut after it resends nothing
        if not self.pending:
            # Everything is out: start the file afresh rather than let it grow.
            _write_atomic(self.queue, "")
            self.offset = 0
            self._save_pos()
        elif self.offset > self.COMPACT_AT:
            self._compact()

    def _drop_oldest(self, n):
        with open(self.queue) as f:
            f.seek(self.offset)
            for _ in range(n):
                line = f.readline()
                self.offset += len(line.encode())
                self.sent_seq = json.loads(line)["seq"]   # dropped counts as gone
        self.pending -= n
        self.dropped += n
        self._save_pos()
        if self.offset > self.COMPACT_AT:
            self._compact()

    def _compact(self):
        """Copy the unsent lines to a fresh file, a line at a time (no big buffer)."""
        tmp = self.queue + ".new"
        with open(self.queue) as src, open(tmp, "w") as dst:
            src.seek(self.offset)
            while True:
                line = src.readline()
                if not line:
                    break
                dst.write(line)
        os.rename(tmp, self.queue)
        self.offset = 0

    def _save_pos(self):
        _write_atomic(self.pos_path, '{"seq":%d,"dropped":%d}' % (self.sent_seq, self.dropped))
