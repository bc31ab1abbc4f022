"""KMP unit codes and their spelling (research/kmp.md §6, the vectors' unit_table)."""

# Index = unit code 0..66. Codes 0 and 51 carry no physical unit: "number".
_KMP_UNITS = (
    "number", "Wh", "kWh", "MWh", "GWh", "J", "kJ", "MJ", "GJ", "Cal",
    "kCal", "Mcal", "Gcal", "varh", "kvarh", "Mvarh", "Gvarh", "VAh", "kVAh", "MVAh",
    "GVAh", "W", "kW", "MW", "GW", "var", "kvar", "Mvar", "Gvar", "VA",
    "kVA", "MVA", "GVA", "V", "A", "kV", "kA", "°C", "K", "l",
    "m³", "l/h", "m³/h", "m³·°C", "ton", "ton/h", "h", "hh:mm:ss", "yy:mm:dd", "yyyy:mm:dd",
    "mm:dd", "number", "bar", "RTC", "ASCII", "m³ x10", "ton x10", "GJ x10", "minutes", "Bitfield",
    "s", "ms", "days", "RTC-Q", "Datetime", "imp/l", "l/imp",
)
# PyKMP's table continues at 85 (research/kmp.md §6).
_KMP_UNITS_85 = ("%RH", "%O₂", "m/s", "kJ/kg", "pH", "g/kg")

# Date and time units hold a decimal number whose digit pairs are the fields.
_DATE_DIGITS = {47: 6, 48: 6, 49: 8, 50: 4}


def kmp_unit(code):
    """The unit string of a KMP unit code, or None when the code is unknown."""
    if 0 <= code < len(_KMP_UNITS):
        return _KMP_UNITS[code]
    if 85 <= code < 85 + len(_KMP_UNITS_85):
        return _KMP_UNITS_85[code - 85]
    return None


def kmp_display(code, value):
    """A date/time register shown in its unit's pattern ("22:01:12"), else None."""
    width = _DATE_DIGITS.get(code)
    if width is None or not value.isdigit():
        return None
    digits = "0" * (width - len(value)) + value
    if len(digits) != width:
        return None
    if width == 8:
        return digits[:4] + ":" + digits[4:6] + ":" + digits[6:]
    return ":".join(digits[i:i + 2] for i in range(0, width, 2))
