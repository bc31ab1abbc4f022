"""Home Assistant MQTT discovery: one retained config per entity, from the register
catalogues (docs/homeassistant.md: Home Assistant 2025.4 fed these payloads).

The topics and units come from metereye.ha. Apart from it because it is needed
only while the reader announces a meter (at each connect, when Home Assistant
restarts): the reader loads it then and drops it after (firmware/mqtt.py).
"""

from metereye.compat import const
from metereye.decimal import parse_decimal
from metereye.errors import ConfigError
from metereye.ha import (_classes, _lookup, discovery_topic, ha_unit, json_text, meter_diag_topic,
                         reader_diag_topic, state_topic, status_topic)

# The catalogues' flag bits (meters/kamstrup.py and obis.py define them; test_ha
# checks they agree). Not imported: this module must not pull a register table in.
_DIAGNOSTIC = const(2)
_TEXT = const(4)

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


def unit_fits(device_class, unit):
    """False when Home Assistant would refuse `unit` for `device_class`."""
    if device_class is None:
        return True
    units = _lookup(_CLASS_UNITS, device_class)
    if units is None:
        return True                     # a class we never checked: trust the catalogue
    return unit is not None and ("|" + units).find("|" + unit + "|") >= 0


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
