"""The floor under every counter: a total_increasing value is never published lower.

A counter that drops (a 0 after a failed read) breaks Home Assistant's Energy
dashboard (docs/homeassistant.md, home-assistant/core#133414). CounterFloor
remembers the last value published per (meter_id, key) and refuses a lower
one, a negative or a non-number, until told the meter was replaced. A 0 is
published only as a counter's first value or after a 0: values here come
from CRC-checked frames only (a failed read publishes nothing at all), and
some counters truly stay at 0 (a water meter's reverse volume); Home
Assistant shows the first value above it. Values are compared as exact
decimals, in Home Assistant's units (ha.ha_value), which is what it sees.
The firmware keeps `state` (plain JSON data) on flash across reboots.

Not to be confused with guard.py, the allow-list of commands a meter may be sent.
"""

from metereye.decimal import parse_decimal
from metereye.ha import ha_value, json_text


def _compare(a, b):
    """-1, 0 or 1 as decimal `a` is below, equal to or above decimal `b` (parsed pairs)."""
    (ma, ea), (mb, eb) = a, b
    if ea > eb:
        ma *= 10 ** (ea - eb)
    elif eb > ea:
        mb *= 10 ** (eb - ea)
    return (ma > mb) - (ma < mb)


class CounterFloor:
    """Keeps a total_increasing value from ever going down."""

    def __init__(self, state=None):
        # {"counters": {"meter_id/key": "value"}, "serials": {"meter_id": "serial"}}
        self.state = state if state is not None else {"counters": {}, "serials": {}}

    def accept(self, meter_id, key, value):
        """True (and remembered) when `value` may be published for this counter."""
        new = parse_decimal(value) if value else None
        if new is None or new[0] < 0:
            return False
        counters = self.state["counters"]
        slot = meter_id + "/" + key
        last = counters.get(slot)
        if last is not None and _compare(new, parse_decimal(last)) < 0:
            return False
        counters[slot] = value
        return True

    def refused(self, reading, classes):
        """The keys of `reading`'s counters that must not be published (the rest are
        remembered). `classes(key)`: (device_class, state_class, flags) or None."""
        # The empty tuple is a constant: a good reading allocates no list. Never
        # appended to (`out or []` comes first), so typed as the list it becomes.
        out: list = ()  # type: ignore[assignment]
        for key, value, unit in reading.values:
            row = classes(key)
            if row is not None and row[1] == "total_increasing":
                if not self.accept(reading.meter_id, key, ha_value(value, unit)[0]):
                    out = out or []
                    out.append(key)
        return out

    def meter_changed(self, meter_id):
        """Forget `meter_id`'s counters: a new meter may start lower."""
        counters = self.state["counters"]
        prefix = meter_id + "/"
        for slot in [s for s in counters if s.startswith(prefix)]:
            del counters[slot]

    def see_serial(self, meter_id, serial):
        """Note the serial read from `meter_id`; True (counters forgotten) when it changed."""
        serial = "%s" % serial
        serials = self.state["serials"]
        known = serials.get(meter_id)
        serials[meter_id] = serial
        if known is not None and known != serial:
            self.meter_changed(meter_id)
            return True
        return False

    def to_json(self):
        parts = []
        for name in ("counters", "serials"):
            items = ",".join(json_text(k) + ":" + json_text(v) for k, v in self.state[name].items())
            parts.append('"%s":{%s}' % (name, items))
        return "{" + ",".join(parts) + "}"

    @classmethod
    def from_json(cls, text):
        import json     # only at boot, when the saved state is read back

        state = json.loads(text)
        state.setdefault("counters", {})
        state.setdefault("serials", {})
        return cls(state)
