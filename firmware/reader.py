"""One meter's task: when its schedule allows, wake it, read it in one session,
and hand a checked reading on. A reading is complete and checked (CRC/BCC) or
it is not handed on at all.

Every protocol is reached through the protocol table (lib/metereye/protocols.py):
its row names the device module that reads such a meter (kmp_reader,
iec_reader: read(), describe(), and listen() for meters that push), the lib
module whose key_classes() gives Home Assistant's classes, and the line the
echo test uses. Each is imported only when a meter of that protocol is
configured. A reader keeps what it needs of its row and those modules, never
the table or its rows: the app drops the table once the readers are built.
"""

from binascii import hexlify

import asyncio
import hw
import link
import log
from metereye import meters
from metereye.reading import Reading
from metereye.schedule import OVER_BUDGET, Schedule, parse_times


class MeterReader:
    """Reads one configured meter on its own schedule."""

    def __init__(self, spec, index, clock, on_reading, on_session=None):
        self.spec = spec
        self.index = index
        self.clock = clock              # the app's clock: unix_time() or uptime
        self.on_reading = on_reading    # callback(MeterReader, Reading)
        self.on_session = on_session    # callback(MeterReader) after every session
        self.model = meters.details(spec["model"])
        self.protocol = spec["protocol"]
        from metereye import protocols
        row = protocols.find(self.protocol)                 # UnknownProtocol: never a default
        self.device = protocols.load(row.device)            # the module that reads it
        self.pushes = row.pushes        # listened to, never asked
        self.line = row.line(self.model)                    # (baud, framing) its sessions start with
        # (device_class, state_class, flags) of one of this meter's keys, for discovery;
        # None when the catalogue does not know it.
        self.classes = protocols.load(row.keys).key_classes
        self.memo = None                # the device module's own cache (kmp_reader: key -> register id)
        self.serial = None
        self.meter_id = "%s_%d" % (spec["model"], index)
        # The interval's floor was applied by the config validator.
        self.schedule = Schedule(spec["interval_s"], spec["budget"], parse_times(spec["times"]),
                                 wake_fitted=bool(spec.get("wake")))
        self.uart = None
        self.wake = hw.open_wake(spec.get("wake"))
        self.errors = 0
        self.info_flags = ""
        self.last_raw = b""
        self.last_read_t = None
        self.sessions = 0
        self._now_request = False
        self._event = asyncio.Event()
        self.echo_result = None
        self.line_lock = asyncio.Lock()  # one user of the line at a time: a session or the echo test

    # --- what the page and MQTT show ----------------------------------------
    def status(self):
        s = self.schedule
        return {"meter": self.meter_id, "model": self.spec["model"], "serial": self.serial,
                "state": s.state, "sessions_today": s.sessions_today, "budget": s.budget,
                "errors": self.errors, "info_flags": self.info_flags,
                "last_read": self.last_read_t, "next_s": s.next_s,
                # hexlify: 1.3 KB of heap where a join of 160 small strings took 13 KB (64-bit)
                "last_frame_hex": hexlify(self.last_raw[-160:], " ").decode().upper()}

    def describe(self, key, value, unit):
        """One value as the page's API gives it: shaped like `metereye decode`'s
        register (KMP) or data set (IEC) object."""
        out = self.device.describe(self, key)
        out["name"] = key
        out["value"] = value
        out["unit"] = unit
        return out

    def read_now(self):
        """A person asked for a reading: within the budget only."""
        if not self.schedule.read_now_allowed(self._day()):
            return False
        self._now_request = True
        self._event.set()
        return True

    # --- the task -----------------------------------------------------------
    def _day(self):
        return int(self.clock() // 86400)

    async def run(self):
        if self.pushes:
            # A pushing meter is listened to, not asked: listen() owns the line.
            return await self.device.listen(self)
        self.schedule.first_due(self.clock())
        while True:
            now = self.clock()
            if self._now_request or self.schedule.may_start(now, self._day()):
                self._now_request = False
                try:
                    async with self.line_lock:
                        await self.session()
                except OSError as e:       # the line itself failed: count it, retry later
                    self.errors += 1
                    log.error(self.meter_id, "line", e)
                    self.close()
                    self.schedule.finished("no_echo", self.clock())
                except Exception as e:     # a bug must not end this meter's readings for good
                    self.errors += 1
                    log.error(self.meter_id, "session failed:", repr(e))
                    self.close()
                    self.schedule.finished("garbled", self.clock())
                continue
            if self.schedule.due(now):
                self.schedule.state = OVER_BUDGET
            # Sleep in short steps so "read now" and clock changes are seen soon.
            self._event.clear()
            try:
                await asyncio.wait_for_ms(self._event.wait(), 1000)
            except asyncio.TimeoutError:
                pass

    async def echo_test(self):
        """The head's self-test on this meter's line (the page's button): an EchoResult."""
        from metereye.echo import EchoTest
        async with self.line_lock:
            uart = self._open()
            baud, framing = self.line
            self.echo_result = await link.run_session(uart, EchoTest(baud, framing))
        return self.echo_result

    def _open(self):
        if self.uart is None:
            self.uart = hw.open_uart(self.spec)
        return self.uart

    async def session(self):
        uart = self._open()
        woken = False
        if self.wake is not None:
            await self.wake.pulse()
            woken = True
        self.schedule.started(self.clock(), self._day())
        self.sessions += 1
        raw = bytearray()

        def keep(direction, data):
            if direction == "rx" and len(raw) < 512:
                raw.extend(data)

        outcome, values, serial = await self.device.read(self, uart, keep)
        self.last_raw = bytes(raw)
        state = self.schedule.finished(outcome, self.clock(), woken)
        if self.on_session is not None:
            self.on_session(self)
        if outcome != "ok":
            self.errors += 1
            log.warn(self.meter_id, "session:", state)
            return
        self._identify(serial)
        self.last_read_t = self.clock()
        reading = Reading(self.meter_id, None, values)
        log.info(self.meter_id, "read", len(values), "values")
        self.on_reading(self, reading)

    def _identify(self, serial):
        if serial is not None and serial != self.serial:
            self.serial = serial
            self.meter_id = "%s_%s" % (self.spec["model"], serial)

    def close(self):
        if self.uart is not None:
            self.uart.close()
            self.uart = None
