"""KMP unit codes and their spelling (docs/kmp.md §6, the vectors' unit_table)."""

# Field n is unit code n (0..66); codes 0 and 51 carry no physical unit.
# One string rather than a tuple of 67: loaded from .mpy a tuple of strings
# costs ~7 KB of heap, this ~1 KB; a lookup slices out one field.
_KMP_UNITS = (
    "number,Wh,kWh,MWh,GWh,J,kJ,MJ,GJ,Cal,"
    "kCal,Mcal,Gcal,varh,kvarh,Mvarh,Gvarh,VAh,kVAh,MVAh,"
    "GVAh,W,kW,MW,GW,var,kvar,Mvar,Gvar,VA,"
    "kVA,MVA,GVA,V,A,kV,kA,°C,K,l,"
    "m³,l/h,m³/h,m³·°C,ton,ton/h,h,hh:mm:ss,yy:mm:dd,yyyy:mm:dd,"
    "mm:dd,number,bar,RTC,ASCII,m³ x10,ton x10,GJ x10,minutes,Bitfield,"
    "s,ms,days,RTC-Q,Datetime,imp/l,l/imp"
)
_KMP_UNITS_COUNT = 67
# PyKMP's table continues at 85 (docs/kmp.md §6).
_KMP_UNITS_85 = "%RH,%O₂,m/s,kJ/kg,pH,g/kg"


def _field(table, n):
    start = 0
    for _ in range(n):
        start = table.index(",", start) + 1
    end = table.find(",", start)
    return table[start:] if end < 0 else table[start:end]


# Date and time units hold a decimal number whose digit pairs are the fields.
_DATE_DIGITS = {47: 6, 48: 6, 49: 8, 50: 4}


def kmp_unit(code):
    """The unit string of a KMP unit code, or None when the code is unknown."""
    if 0 <= code < _KMP_UNITS_COUNT:
        return _field(_KMP_UNITS, code)
    if 85 <= code <= 90:
        return _field(_KMP_UNITS_85, code - 85)
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
