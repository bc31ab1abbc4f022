"""The counters' floors with their memory on flash (metereye.counters): a
counter is never published lower than before, across reboots, unless the
meter itself changed."""

import flashfile
import log
from metereye.counters import CounterFloor

PATH = "counters.json"


class Floors:
    def __init__(self, path=PATH):
        self.path = path
        try:
            with flashfile.open_latest(path) as f:
                self.floor = CounterFloor.from_json(f.read())
        except (OSError, ValueError):
            self.floor = CounterFloor()

    def check(self, reader, reading):
        """`reading` without the counters that went backwards (each one logged)."""
        if reader.serial is not None and self.floor.see_serial(reading.meter_id, reader.serial):
            log.warn(reading.meter_id, "a new meter serial: its counters start afresh")
        refused = self.floor.refused(reading, reader.classes)
        if refused:
            log.warn(reading.meter_id, "counters went backwards, not published:", ",".join(refused))
            reading.values = [v for v in reading.values if v[0] not in refused]
        flashfile.write(self.path, self.floor.to_json())
        return reading
