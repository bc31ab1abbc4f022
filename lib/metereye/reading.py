"""One reading: what one optical session brought back from one meter, exact.

A Reading travels from the link driver through the store to MQTT, an HTTP
server and the page. Values stay decimal strings ("831.403") the whole way;
JSON is written by hand (and InfluxDB's line protocol, in influx.py) so a
value goes out as the very digits the meter sent, never through a float.
"""


class Reading:
    """A meter's values at one time. `t` is Unix seconds, None until the clock is known."""

    def __init__(self, meter_id, t, values, seq=0):
        self.meter_id = meter_id
        self.t = t
        self.values = values        # list of (key, value string, unit string or None)
        self.seq = seq              # per-reader sequence number: order and de-duplication

    def value(self, key):
        for k, v, _ in self.values:
            if k == key:
                return v
        return None

    def to_json(self, numbers=True):
        """{"meter": …, "t": …, "seq": …, "values": {key: value}} as text.

        With numbers, decimals go out as JSON numbers with exactly their digits
        (for MQTT); without, as strings, so reading them back stays exact (store).
        """
        parts = []
        for key, value, _ in self.values:
            parts.append('"%s":%s' % (key, json_value(value) if numbers else json_string(value)))
        tail = "" if numbers else ',"units":' + self.units_json()
        return '{"meter":"%s","t":%s,"seq":%d,"values":{%s}%s}' % (
            self.meter_id, "null" if self.t is None else int(self.t), self.seq, ",".join(parts), tail)

    def units_json(self):
        return "{%s}" % ",".join('"%s":%s' % (k, json_string(u) if u is not None else "null")
                                 for k, _, u in self.values)


def from_json(obj):
    """A Reading from the dict `to_json(numbers=False)` wrote (after json.loads)."""
    values = []
    units = obj.get("units") or {}
    for key, value in obj["values"].items():
        values.append((key, value if isinstance(value, str) else str(value), units.get(key)))
    return Reading(obj["meter"], obj["t"], values, obj.get("seq", 0))


def is_plain_number(text):
    """True for an optional '-', digits and an optional fraction: valid JSON as it stands."""
    if not text:
        return False
    s = text[1:] if text[0] == "-" else text
    whole, dot, frac = s.partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()):
        return False
    # JSON forbids leading zeros ("007"); such values stay strings.
    return whole == "0" or whole[0] != "0"


def json_value(text):
    """A decimal as a JSON number with exactly its digits; anything else as a string."""
    return text if is_plain_number(text) else json_string(text)


def json_string(text):
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)

