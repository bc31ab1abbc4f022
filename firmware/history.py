"""Recent readings on flash for the page's chart and GET /api/history: a bounded ring.

history.jsonl holds one reading a line, with only its counters (the values a
chart of consumption needs: volume, energy; not temperatures, flow or flags),
in the store's own format: Reading.to_json(numbers=False), exact decimal
strings and units. A reading taken before the clock was set has "t": null
and adds "up" (seconds since boot) and "boot" (which boot).

Flash, not RAM: a week of hourly readings is ~20 KB of text, more than the
page may hold on the heap; on flash it costs one append per reading, survives
a reboot, and is streamed out a piece at a time. Bounded: past MAX_LINES the
oldest are cut in one rewrite (flashfile: temp file, then rename) down to KEEP_LINES, so
it never holds more than MAX_LINES readings (16 days of one hourly meter,
4 days of a 15-minute one).
"""

import flashfile
import log
from metereye.reading import Reading

PATH = "history.jsonl"


class History:
    MAX_LINES = 400
    KEEP_LINES = 300
    CHUNK = 1024            # bytes per piece when streaming

    def __init__(self, path=PATH, is_counter=None):
        self.path = path
        self.is_counter = is_counter    # (meter_id, key) -> bool; None keeps every value
        self.lines = 0
        self._load()

    def _load(self):
        torn = False
        try:
            with flashfile.open_latest(self.path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        torn = True             # a power cut mid-append: cut it off
                        break
                    self.lines += 1
        except OSError:
            return
        if torn or self.lines > self.MAX_LINES:
            self._trim(min(self.lines, self.KEEP_LINES))

    def add(self, reading):
        """Keep the counters of one published reading."""
        keep = self.is_counter
        values = [v for v in reading.values if keep is None or keep(reading.meter_id, v[0])]
        if not values:
            return
        line = Reading(reading.meter_id, reading.t, values, reading.seq).to_json(numbers=False)
        if reading.t is None:
            line = line[:-1] + ',"up":%d,"boot":%d}' % (getattr(reading, "up", 0) or 0,
                                                         getattr(reading, "boot", 0) or 0)
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError as e:            # a full flash costs the chart, never the reading
            log.warn("history", repr(e))
            return
        self.lines += 1
        if self.lines > self.MAX_LINES:
            self._trim(self.KEEP_LINES)

    def _trim(self, keep):
        kept = [0]
        flashfile.write(self.path, self._newest(self.lines - keep, kept))
        self.lines = kept[0]

    def _newest(self, skip, kept):
        """The whole lines after the first `skip`, counted into kept[0]; the file is
        closed once they are read (before flashfile.write renames over it)."""
        with flashfile.open_latest(self.path) as src:
            i = 0
            for line in src:
                if not line.endswith("\n"):
                    break
                if i >= skip:
                    kept[0] += 1
                    yield line
                i += 1

    def chunks(self, meter=None):
        """{"entries": [...]} as text pieces of about CHUNK bytes, oldest first;
        only `meter`'s when given. A generator: the file is read as it is sent."""
        want = None if meter is None else '"meter":"%s"' % meter
        parts = ['{"entries":[']
        size = 0
        sep = ""
        try:
            f = flashfile.open_latest(self.path)
        except OSError:
            f = None
        if f is not None:
            try:
                for line in f:
                    if not line.endswith("\n") or (want is not None and want not in line):
                        continue
                    parts.append(sep)
                    parts.append(line[:-1])
                    sep = ","
                    size += len(line)
                    if size >= self.CHUNK:
                        yield "".join(parts)
                        parts = []
                        size = 0
            finally:
                f.close()
        parts.append("]}")
        yield "".join(parts)
