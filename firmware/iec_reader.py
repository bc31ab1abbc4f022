"""IEC 62056-21 and DSMR P1 meters on the reader: one session per scheduled read
for modes A-C (read()), and a listener that never stops for meters that push
(mode D, P1: listen()).

A protocol's device module (lib/metereye/protocols.py names it) has the same
small interface as kmp_reader.py: read(), describe(), and listen() where the
protocol pushes. reader.py imports it only where such a meter is configured. Memory: the
session keeps only the data sets the profile publishes (and the serial's), never
the telegram; values travel as the meter's own decimal strings and units (ha.py
converts for Home Assistant).
"""

import time

import asyncio
import link
import log
from metereye.obis import SERIAL_IDS
from metereye.schedule import OVER_BUDGET

# How long a due reading of a pushing meter waits for the next good telegram:
# DSMR 2.2/3 push every 10 s, so two periods and the telegram's own time.
PUSH_WAIT_MS = 25000
_RAW_KEPT = 512         # bytes of the last telegram kept for the page's diagnostics
_IDLE_MS = 20           # the UART holds ~1 KB: 20 ms is 230 bytes at 115200 Bd


def _keep(model):
    """The OBIS ids the session keeps: what the profile publishes and where the serial is."""
    return tuple(model.publish) + SERIAL_IDS


def _clean_serial(text):
    """A serial fit for a meter id (topics and entity ids: letters, digits, '-', '_')."""
    if text is None:
        return None
    out = []
    for ch in text.strip():
        if "a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch == "-" or ch == "_":
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    serial = "".join(out).strip("-")[:32]
    return serial or None


def values_of(objects, publish, ident=None):
    """([(key, value, unit)], serial) of the data sets a session kept.

    Keys come from the OBIS catalogue (obis.keys: one per value, "_01" for a
    previous period); a value without a unit gets the unit the catalogue says
    such meters write. The serial is the most trusted of SERIAL_IDS present,
    else the identification's text.
    """
    from metereye.obis import base, keys, lookup, split
    out = []
    seen = []
    serial = None
    rank = len(SERIAL_IDS)
    for ds in objects:
        b = base(ds.obis)
        if b in SERIAL_IDS and ds.values and SERIAL_IDS.index(b) < rank and ds.values[0][0].strip():
            # Channel 0 is the meter itself; DSMR's 0-1:96.1.0 is the gas meter behind it.
            if split(ds.obis)[1] in (None, "0"):
                rank = SERIAL_IDS.index(b)
                serial = ds.values[0][0]
        if b not in publish:
            continue
        names = keys(ds.obis, len(ds.values))
        row = None
        for i in range(len(ds.values)):
            key = names[i]
            if key is None or key in seen:
                continue        # a meter that writes an id twice ("1.8.0", "1-0:1.8.0*255"): the first wins
            value, unit = ds.values[i]
            if unit is None:
                if row is None:
                    row = lookup(ds.obis)
                unit = row[3] if row is not None else None
            seen.append(key)
            out.append((key, value, unit))
    if serial is None and ident is not None:
        serial = ident.text
    return out, _clean_serial(serial)


async def read(reader, uart, keep):
    """One scheduled read: (outcome, [(key, value, unit)], serial). `keep` sees the raw bytes."""
    spec, model = reader.spec, reader.model
    overrides = {"keep": _keep(model)}
    if "max_baud" in spec:
        overrides["max_baud"] = spec["max_baud"]
    if "framing" in spec:
        overrides["framing"] = spec["framing"]
    session = model.session(spec.get("address", ""), **overrides)
    result = await link.run_session(uart, session, keep)
    if result.outcome != "ok":
        return result.outcome, None, None
    if not hasattr(result, "objects"):
        # Kamstrup's "/#1" variant (off by default): unnamed digit fields.
        return "ok", [("field_%d" % i, f, None) for i, f in enumerate(result.fields)], None
    values, serial = values_of(result.objects, model.publish, result.identification)
    return "ok", values, serial


# --- pushing meters ---------------------------------------------------------

class _Push:
    """What the listener has seen since the last reading was handed on."""

    def __init__(self):
        self.latest = None          # (values, serial) of the newest good telegram
        self.raw = bytearray()      # the start of the telegram being received
        self.last_raw = b""
        self.bytes = 0
        self.errors = 0

    def reset(self):
        self.latest = None
        self.bytes = 0
        self.errors = 0


async def _line_failed(reader, err, wait_ms):
    """Count and log a failed line, close it, wait; None: the caller reopens it later."""
    reader.errors += 1
    log.error(reader.meter_id, "line", err)
    reader.close()
    await asyncio.sleep_ms(wait_ms)
    return None


async def listen(reader):
    """Listen to a pushing meter on reader's UART for good; each time the schedule
    says so (reader.spec["interval_s"], "read now"), hand on the newest telegram
    that passed its check, with MeterReader.session's bookkeeping. Never returns."""
    from metereye.errors import FrameError
    from metereye.p1 import PushListener, Telegram
    spec = reader.spec
    model = reader.model
    baud = spec.get("baud", model.line_baud)
    framing = spec.get("framing", model.framing)
    listener = PushListener(_keep(model))
    seen = _Push()
    waiting_since = None        # ticks_ms when a due reading began to wait for a telegram
    uart = None
    reader.schedule.first_due(reader.clock())
    log.info(reader.meter_id, "listening continuously for pushes at", baud, framing)
    while True:
        if uart is None:
            try:
                uart = reader._open()
                uart.configure(baud, framing)
            except OSError as e:
                uart = await _line_failed(reader, e, 5000)
                continue
        try:
            data = uart.read()
        except OSError as e:          # the line itself failed: reopen it later
            uart = await _line_failed(reader, e, 1000)
            continue
        if data:
            try:
                _heard(listener, data, seen, model, Telegram, FrameError)
            except Exception as e:      # a bug must not end this meter's readings for good
                reader.errors += 1
                log.error(reader.meter_id, "push listener failed:", repr(e))
                listener = PushListener(_keep(model))
                seen.raw = bytearray()
        else:
            await asyncio.sleep_ms(_IDLE_MS)
        now = reader.clock()
        if waiting_since is None:
            if reader._now_request or reader.schedule.may_start(now, reader._day()):
                reader._now_request = False
                waiting_since = time.ticks_ms()
            elif reader.schedule.due(now):
                reader.schedule.state = OVER_BUDGET
            continue
        if seen.latest is None and time.ticks_diff(time.ticks_ms(), waiting_since) < PUSH_WAIT_MS:
            continue
        waiting_since = None
        _hand_on(reader, seen)
        seen.reset()


def _heard(listener, data, seen, model, Telegram, FrameError):
    """Feed what the UART gave; keep the newest good telegram's values, not the telegram."""
    seen.bytes += len(data)
    room = _RAW_KEPT - len(seen.raw)
    if room > 0:
        seen.raw.extend(data[:room])
    for ev in listener.feed(data):
        if isinstance(ev, Telegram):
            if ev.check_ok is not False and ev.objects:
                seen.latest = values_of(ev.objects, model.publish, ev.identification)
                seen.last_raw = bytes(seen.raw)
            else:
                seen.errors += 1
            seen.raw = bytearray()
        elif isinstance(ev, FrameError):
            seen.errors += 1
            if getattr(ev, "end", None) is not None:
                seen.raw = bytearray()


def _hand_on(reader, seen):
    """One "session" of a pushing meter: the schedule, diagnostics and the reading."""
    from metereye.reading import Reading
    reader.schedule.started(reader.clock(), reader._day())
    reader.sessions += 1
    if seen.latest is not None:
        outcome = "ok"
    elif seen.bytes:
        outcome = "garbled"         # bytes, but no telegram passed its check
    else:
        outcome = "no_echo"         # nothing on the line: cable, data request, inversion
    reader.last_raw = seen.last_raw if seen.latest is not None else bytes(seen.raw)
    state = reader.schedule.finished(outcome, reader.clock())
    if reader.on_session is not None:
        reader.on_session(reader)
    if outcome != "ok":
        reader.errors += 1
        log.warn(reader.meter_id, "push:", state, seen.bytes, "bytes,", seen.errors, "bad telegrams")
        return
    values, serial = seen.latest
    reader._identify(serial)
    reader.last_read_t = reader.clock()
    log.info(reader.meter_id, "push: handed on", len(values), "values")
    reader.on_reading(reader, Reading(reader.meter_id, None, values))


def describe(reader, key):
    """What names a value like `metereye decode iec --json`'s data set: {"obis": id}."""
    return {"obis": _obis_of(key)}


def _obis_of(key):
    """The catalogue's OBIS id of a key ("energy_import" -> "1.8.0", "heat_energy_01" -> "6.8*01")."""
    from metereye.obis import OBJECTS
    for row in OBJECTS:
        f = row.split(" ")
        for name in f[1].split("&"):
            if key == name:
                return f[0][2:]
            if key.startswith(name + "_") and key[len(name) + 1:].isdigit():
                return f[0][2:] + "*" + key[len(name) + 1:]
    return None
