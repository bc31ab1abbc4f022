"""Home Assistant over MQTT: the topic layout, the units, state and diagnostics payloads.

The one module that knows the topics (docs/style.md R12). Pure: strings in, (topic,
payload) strings out; the MQTT target publishes them. The discovery configs are in
metereye.discovery, which the reader loads only while it announces a meter.

    <topic_prefix>/<reader_id>/status                online | offline, retained (the last will)
    <topic_prefix>/<reader_id>/diag                  the reader's diagnostics (JSON)
    <topic_prefix>/<reader_id>/<meter_id>/state      one reading (JSON, Home Assistant units)
    <topic_prefix>/<reader_id>/<meter_id>/diag       the meter's diagnostics (JSON)
    <discovery_prefix>/sensor/<unique_id>/config     one entity, retained
    <discovery_prefix>/status                        Home Assistant says online: re-send discovery

Every JSON text here is ASCII ("m³" travels as "m\\u00b3"), so its length in
characters is its length in bytes, whatever a client counts.
Sources: docs/homeassistant.md (Home Assistant 2025.4 fed these payloads).
"""

from metereye.compat import const
from metereye.decimal import format_decimal, parse_decimal
from metereye.reading import is_plain_number

TOPIC_PREFIX = "metereye"
DISCOVERY_PREFIX = "homeassistant"
ONLINE = "online"
OFFLINE = "offline"
METER_STATES = ("ok", "asleep", "lockout", "no_echo", "garbled", "waiting")

# The catalogues' flag bits (meters/kamstrup.py defines them; test_ha checks
# they agree). Not imported: ha must not pull a register table into the heap.
_TEXT = const(4)

# Meter unit -> Home Assistant unit and the power of ten the value moves by
# (docs/decisions.md §18). Units not listed pass unchanged. Text, not a tuple of tuples:
# one string costs one heap object when loaded from .mpy.
#   l/h: HA 2025.4 refuses L/h for volume_flow_rate (docs/homeassistant.md).
#   m3, m3ph, m3/h, C: IEC 62056-21 meters' spellings (tests/vectors/iec_vectors.json).
#   m3: HA logs "m3" as invalid for water and will stop accepting it.
#   x10: KMP units 55-57 count tens of the base unit.
#   number, ASCII, Bitfield: KMP's "no physical unit" codes.
_UNITS = (
    "\nl/h|m\u00b3/h|-3"
    "\nl|L|0"
    "\nm3|m\u00b3|0"
    "\nm3ph|m\u00b3/h|0"
    "\nm3/h|m\u00b3/h|0"
    "\nC|\u00b0C|0"
    "\ndays|d|0"
    "\nminutes|min|0"
    "\nm\u00b3 x10|m\u00b3|1"
    "\nGJ x10|GJ|1"
    "\nton x10|ton|1"
    "\nnumber||0"
    "\nASCII||0"
    "\nBitfield||0"
    "\n"
)

def _lookup(table, key):
    """The rest of the line of `table` that starts with `key|`, or None."""
    start = table.find("\n" + key + "|")
    if start < 0:
        return None
    start += len(key) + 2
    return table[start:table.index("\n", start)]


def ha_unit(unit):
    """(Home Assistant unit or None, places the value's decimal point moves)."""
    if unit is None or unit == "":
        return None, 0
    row = _lookup(_UNITS, unit)
    if row is None:
        return unit, 0
    to, places = row.split("|")
    return (to or None), int(places)


def ha_value(value, unit):
    """(value, unit) as Home Assistant takes them: exact decimal shifts, never a float.

    A decimal also loses what JSON forbids ("+5", "0012.50" -> "5", "12.50"),
    keeping every digit after the point; anything else is returned unchanged.
    """
    to, places = ha_unit(unit)
    parsed = parse_decimal(value)
    if parsed is not None:
        value = format_decimal(parsed[0], parsed[1] + places)
    return value, to


# --- topics ---------------------------------------------------------------

def status_topic(topic_prefix, reader_id):
    """Availability: ONLINE / OFFLINE, retained; OFFLINE is the last will."""
    return topic_prefix + "/" + reader_id + "/status"


def update_topic(topic_prefix, reader_id):
    """The last update's outcome (the reader's update.json), retained."""
    return topic_prefix + "/" + reader_id + "/update"


def reader_diag_topic(topic_prefix, reader_id):
    return topic_prefix + "/" + reader_id + "/diag"


def state_topic(topic_prefix, reader_id, meter_id):
    return "%s/%s/%s/state" % (topic_prefix, reader_id, meter_id)


def meter_diag_topic(topic_prefix, reader_id, meter_id):
    return "%s/%s/%s/diag" % (topic_prefix, reader_id, meter_id)


def discovery_topic(discovery_prefix, unique_id):
    return "%s/sensor/%s/config" % (discovery_prefix, unique_id)


def ha_status_topic(discovery_prefix):
    """Home Assistant publishes ONLINE here when it starts: send discovery again."""
    return discovery_prefix + "/status"


# --- JSON, by hand ----------------------------------------------------------

def json_text(text):
    """`text` as an ASCII-only JSON string."""
    plain = True
    for ch in text:
        if ch < " " or ch > "~" or ch == '"' or ch == "\\":
            plain = False
            break
    if plain:
        return '"' + text + '"'
    out = ['"']
    for ch in text:
        n = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= n < 0x7F:
            out.append(ch)
        elif n > 0xFFFF:                # JSON spells these as a surrogate pair
            n -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF)))
        else:
            out.append("\\u%04x" % n)
    out.append('"')
    return "".join(out)


def _number_or_null(n):
    return "null" if n is None else "%d" % n


def state_payload(reading, classes=None, skip=()):
    """The state JSON of one reading: {"t", "seq", key: value in Home Assistant units}.

    A decimal goes out as a JSON number with exactly its digits ("0.000" stays
    0.000); keys with the TEXT flag and values that are not plain decimals go
    out as strings. Keys in `skip` (counters the guard refused) are left out.
    """
    parts = ['{"t":', _number_or_null(reading.t), ',"seq":%d' % reading.seq]
    for key, value, unit in reading.values:
        if key in skip:
            continue
        text = classes is not None and (_classes(classes, key)[2] & _TEXT)
        if not text:
            value = ha_value(value, unit)[0]
        parts.append(',"%s":' % key)
        parts.append(value if not text and is_plain_number(value) else json_text(value))
    parts.append("}")
    return "".join(parts)


def meter_diag_payload(state, sessions_today, budget, errors, info_flags=(), last_read=None):
    """The meter's diagnostics JSON; `state` is one of METER_STATES, `info_flags` names."""
    if state not in METER_STATES:
        raise ValueError(state)
    if not isinstance(info_flags, str):
        info_flags = ",".join(info_flags)
    return '{"state":"%s","sessions_today":%d,"budget":%d,"errors":%d,"info_flags":%s,"last_read":%s}' % (
        state, sessions_today, budget, errors, json_text(info_flags), _number_or_null(last_read))


def reader_diag_payload(rssi, free_heap, uptime_s, queued, dropped, targets=()):
    """The reader's diagnostics JSON; rssi None when there is no WiFi (unix port).

    `targets`: (name, state) of each target the readings go to (outbox.py), the
    state a dict with connected, queued, sent, refused, last_seq and error.
    """
    text = '{"rssi":%s,"free_heap":%d,"uptime":%d,"queued":%d,"dropped":%d' % (
        _number_or_null(rssi), free_heap, uptime_s, queued, dropped)
    if not targets:
        return text + "}"
    parts = []
    for name, st in targets:
        parts.append('%s:{"connected":%s,"queued":%d,"sent":%d,"refused":%d,"last_seq":%s,"error":%s}' % (
            json_text(name), "true" if st["connected"] else "false", st["queued"], st["sent"],
            st["refused"], _number_or_null(st["last_seq"]),
            "null" if st["error"] is None else json_text(st["error"])))
    return text + ',"targets":{' + ",".join(parts) + "}}"


def _classes(classes, key):
    row = classes(key)
    return row if row is not None else (None, None, 0)
