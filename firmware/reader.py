"""One meter's task: when its schedule allows, wake it, read it in one session,
and hand a checked reading on. A reading is complete and checked (CRC/BCC) or
it is not handed on at all."""

from binascii import hexlify

import asyncio
import hw
import link
import log
from metereye import kmp, meters
from metereye.meters.kamstrup import decode_info, key_classes, register_info
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

    def classes(self, key):
        """(device_class, state_class, flags) of one of this meter's keys, for discovery."""
        if self.protocol == "kmp":
            return key_classes(key)
        from iec_reader import obis_classes
        return obis_classes(key)

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
        if self.protocol == "iec-d":
            # A pushing meter is listened to, not asked: run_push owns the line.
            from iec_reader import run_push
            return await run_push(self)
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
            baud, framing = (1200, "8N2") if self.protocol == "kmp" else (300, "7E1")
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

        if self.protocol == "kmp":
            outcome, values = await self._read_kmp(uart, keep)
        else:
            outcome, values = await self._read_iec(uart, keep)
        self.last_raw = bytes(raw)
        state = self.schedule.finished(outcome, self.clock(), woken)
        if self.on_session is not None:
            self.on_session(self)
        if outcome != "ok":
            self.errors += 1
            log.warn(self.meter_id, "session:", state)
            return
        self.last_read_t = self.clock()
        reading = Reading(self.meter_id, None, values)
        log.info(self.meter_id, "read", len(values), "values")
        self.on_reading(self, reading)

    async def _read_kmp(self, uart, keep):
        model = self.model
        ids = list(model.register_ids)
        for rid in self.spec.get("extra_registers", ()):
            if rid not in ids:
                ids.append(rid)
        session = kmp.KmpSession(ids, want_serial=model.serial_register is None)
        result = await link.run_session(uart, session, keep)
        if result.outcome != "ok":
            return result.outcome, None
        serial = result.serial
        if serial is None and model.serial_register in result.registers:
            serial = result.registers[model.serial_register].raw
        self._identify(serial)
        values = []
        for rid in ids:
            reg = result.registers.get(rid)
            if reg is None:
                continue
            key = register_info(rid)[1]
            display = reg.display
            values.append((key, display if display is not None else reg.value, reg.unit))
        if 99 in result.registers:
            self.info_flags = ",".join(decode_info(result.registers[99].raw, model.info_flags))
        return "ok", values

    async def _read_iec(self, uart, keep):
        from iec_reader import read_iec   # imported only where an IEC meter is configured
        outcome, values, serial = await read_iec(uart, self.spec, self.model, keep)
        if outcome == "ok":
            self._identify(serial)
        return outcome, values

    def _identify(self, serial):
        if serial is not None and serial != self.serial:
            self.serial = serial
            self.meter_id = "%s_%s" % (self.spec["model"], serial)

    def close(self):
        if self.uart is not None:
            self.uart.close()
            self.uart = None
