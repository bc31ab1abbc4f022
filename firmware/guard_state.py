"""The counter guard with its memory on flash: a counter is never published
lower than before, across reboots, unless the meter itself changed."""

import os

import log
from metereye.ha import CounterGuard

PATH = "counters.json"


class CounterGuardState:
    def __init__(self, path=PATH):
        self.path = path
        try:
            with open(path) as f:
                self.guard = CounterGuard.from_json(f.read())
        except (OSError, ValueError):
            self.guard = CounterGuard()

    def check(self, reader, reading):
        """`reading` without the counters that went backwards (each one logged)."""
        if reader.serial is not None and self.guard.see_serial(reading.meter_id, reader.serial):
            log.warn(reading.meter_id, "a new meter serial: its counters start afresh")
        refused = self.guard.refused(reading, reader.classes)
        if refused:
            log.warn(reading.meter_id, "counters went backwards, not published:", ",".join(refused))
            reading.values = [v for v in reading.values if v[0] not in refused]
        self._save()
        return reading

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.guard.to_json())
        os.rename(tmp, self.path)
