"""Home Assistant over MQTT: the topic layout, discovery configs, state payloads.

The one module that knows the topics (docs/style.md R12). Pure: strings in, (topic,
payload) strings out; the MQTT supervisor publishes them.

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
from metereye.errors import ConfigError
from metereye.reading import is_plain_number

TOPIC_PREFIX = "metereye"
DISCOVERY_PREFIX = "homeassistant"
ONLINE = "online"
OFFLINE = "offline"
METER_STATES = ("ok", "asleep", "lockout", "no_echo", "garbled", "waiting")

# The catalogues' flag bits (meters/kamstrup.py defines them; test_ha checks
# they agree). Not imported: ha must not pull a register table into the heap.
_DIAGNOSTIC = const(2)
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

# The units Home Assistant accepts per device class we use. A unit outside
# its class's list (kCal under energy, say) would make HA log the entity as
# invalid, so the entity keeps its unit and loses the class instead.
# Seen accepted by HA 2025.4 (docs/homeassistant.md): water m³, energy
# GJ/kWh/MWh, volume_flow_rate m³/h and L/min, temperature °C, signal_strength
# dBm. The rest are HA's documented units for the class, not run here.
# K is left out of temperature on purpose: every K a heat meter sends is a
# difference (t1 - t2), and HA would convert an absolute 20 K to -253.15 °C.
_CLASS_UNITS = (
    "\nenergy|Wh|kWh|MWh|GWh|MJ|GJ|"
    "\nwater|m\u00b3|L|"
    "\nvolume_flow_rate|m\u00b3/h|L/min|"
    "\ntemperature|\u00b0C|"
    "\npower|W|kW|MW|"
    "\nduration|d|h|min|s|ms|"
    "\nsignal_strength|dBm|"
    "\ndata_size|B|"
    "\nvoltage|V|"
    "\ncurrent|A|"
    "\nfrequency|Hz|"
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


def unit_fits(device_class, unit):
    """False when Home Assistant would refuse `unit` for `device_class`."""
    if device_class is None:
        return True
    units = _lookup(_CLASS_UNITS, device_class)
    if units is None:
        return True                     # a class we never checked: trust the catalogue
    return unit is not None and ("|" + units).find("|" + unit + "|") >= 0


# --- topics ---------------------------------------------------------------

def valid_id(text):
    """True for a non-empty id of letters, digits, '_' and '-' (safe in topics and entity ids)."""
    if not text or len(text) > 64:
        return False
    for ch in text:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch == "_" or ch == "-"):
            return False
    return True


def _check(what, text):
    if not valid_id(text):
        raise ConfigError(what, text)


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


# --- discovery --------------------------------------------------------------

def _classes(classes, key):
    row = classes(key)
    return row if row is not None else (None, None, 0)


def _title(key):
    """"temp_forward" -> "Temp forward": the entity's name under its device."""
    words = key.replace("_", " ")
    return words[:1].upper() + words[1:]


def _reader_device(reader_id, reader_info):
    parts = ['{"identifiers":["metereye_', reader_id, '"],"manufacturer":"metereye","model":',
             json_text(reader_info.get("model") or "metereye reader"), ',"name":',
             json_text(reader_info.get("name") or "metereye " + reader_id)]
    if reader_info.get("sw_version"):
        parts.append(',"sw_version":' + json_text(reader_info["sw_version"]))
    if reader_info.get("address"):
        parts.append(',"configuration_url":' + json_text("http://%s/" % reader_info["address"]))
    parts.append("}")
    return "".join(parts)


def _meter_device(reader_id, meter_info):
    serial = meter_info.get("serial")
    serial = "" if serial is None else "%s" % serial
    name = meter_info.get("name") or ("%s %s" % (meter_info.get("model", ""), serial)).strip()
    return '{"identifiers":["metereye_%s"],"manufacturer":%s,"model":%s,%s"name":%s,"via_device":"metereye_%s"}' % (
        meter_info["meter_id"], json_text(meter_info.get("manufacturer", "")),
        json_text(meter_info.get("model", "")),
        '"serial_number":%s,' % json_text(serial) if serial else "", json_text(name), reader_id)


def _sensor(discovery_prefix, unique_id, name, topic, template, unit, device_class,
            state_class, diagnostic, availability, device):
    """(discovery topic, config JSON) of one sensor entity."""
    opt = ""
    if unit is not None:
        opt += ',"unit_of_measurement":' + json_text(unit)
    if device_class is not None:
        opt += ',"device_class":"%s"' % device_class
    if state_class is not None:
        opt += ',"state_class":"%s"' % state_class
    if diagnostic:
        opt += ',"entity_category":"diagnostic"'
    payload = ('{"name":%s,"unique_id":"%s","object_id":"%s","state_topic":%s,'
               '"value_template":%s%s,"availability_topic":%s,"payload_available":"online",'
               '"payload_not_available":"offline","device":%s}') % (
        json_text(name), unique_id, unique_id, json_text(topic), json_text(template),
        opt, json_text(availability), device)
    return discovery_topic(discovery_prefix, unique_id), payload


# The meter's own diagnostic entities, read from its diag topic: (unique id
# suffix, name, value template). The suffixes are not catalogue keys (test_ha
# checks), so they never collide with a register. No state_class: sessions
# restart every day and none of these needs long-term statistics.
_METER_DIAG = (
    ("meter_state", "Meter state", "{{ value_json.state }}"),
    ("sessions_today", "Sessions today", "{{ value_json.sessions_today }}"),
    ("errors", "Errors", "{{ value_json.errors }}"),
    ("info_flags", "Info flags", "{{ value_json.info_flags or 'none' }}"),
)

# The reader's: (key, name, unit, device_class, state_class). Uptime restarts
# at every boot, so it gets no statistics (no state_class).
_READER_DIAG = (
    ("rssi", "WiFi signal", "dBm", "signal_strength", "measurement"),
    ("free_heap", "Free heap", "B", "data_size", "measurement"),
    ("uptime", "Uptime", "s", "duration", None),
    ("queued", "Readings queued", None, None, "measurement"),
    ("dropped", "Readings dropped", None, None, "total_increasing"),
)


def meter_discovery(discovery_prefix, topic_prefix, reader_id, meter_info, reading, classes):
    """(topic, payload) for each value of `reading` and each meter diagnostic entity."""
    meter_id = meter_info["meter_id"]
    _check("reader_id", reader_id)
    _check("meter_id", meter_id)
    device = _meter_device(reader_id, meter_info)
    availability = status_topic(topic_prefix, reader_id)
    topic = state_topic(topic_prefix, reader_id, meter_id)
    prefix = reader_id + "_" + meter_id + "_"
    for key, value, unit in reading.values:
        device_class, state_class, flags = _classes(classes, key)
        if flags & _TEXT or parse_decimal(value) is None:
            unit = device_class = state_class = None
        else:
            unit = ha_unit(unit)[0]
            if not unit_fits(device_class, unit):
                device_class = None
        yield _sensor(discovery_prefix, prefix + key, _title(key), topic,
                      "{{ value_json.%s }}" % key, unit, device_class, state_class,
                      flags & _DIAGNOSTIC, availability, device)
    topic = meter_diag_topic(topic_prefix, reader_id, meter_id)
    for suffix, name, template in _METER_DIAG:
        yield _sensor(discovery_prefix, prefix + suffix, name, topic, template,
                      None, None, None, True, availability, device)


def reader_discovery(discovery_prefix, topic_prefix, reader_id, reader_info):
    """(topic, payload) for each of the reader's own diagnostic entities."""
    _check("reader_id", reader_id)
    device = _reader_device(reader_id, reader_info)
    availability = status_topic(topic_prefix, reader_id)
    topic = reader_diag_topic(topic_prefix, reader_id)
    for key, name, unit, device_class, state_class in _READER_DIAG:
        yield _sensor(discovery_prefix, reader_id + "_" + key, name, topic,
                      "{{ value_json.%s }}" % key, unit, device_class, state_class,
                      True, availability, device)


def discovery(discovery_prefix, topic_prefix, reader_id, reader_info, meter_info, reading, classes):
    """Every discovery (topic, payload) for a reader with this meter, one at a time.

    With several meters, send reader_discovery once and meter_discovery per meter.
    """
    for item in meter_discovery(discovery_prefix, topic_prefix, reader_id, meter_info, reading, classes):
        yield item
    for item in reader_discovery(discovery_prefix, topic_prefix, reader_id, reader_info):
        yield item
