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


# DLMS/COSEM unit codes as SML sends them (IEC 62056-6-2's unit enumeration;
# docs/sml.md §4). One string, "code unit" pairs, for the heap's sake as above.
# Codes seen in real SML telegrams: 8, 27, 30, 33, 35, 44 (tests/vectors/sml_vectors.json).
_DLMS_UNITS = (
    ",1 a,2 mo,3 wk,4 d,5 h,6 min,7 s,8 °,9 °C,11 m,12 m/s,13 m³,15 m³/h,19 l,20 kg,"
    "21 N,23 Pa,24 bar,25 J,26 J/h,27 W,28 VA,29 var,30 Wh,31 VAh,32 varh,33 A,34 C,"
    "35 V,37 F,38 Ω,44 Hz,52 K,56 %,57 Ah,"
)


def dlms_unit(code):
    """The unit string of a DLMS unit code, or None (0 and 255 carry no unit,
    other codes are not in the table)."""
    key = "," + str(code) + " "
    i = _DLMS_UNITS.find(key)
    if i < 0:
        return None
    i += len(key)
    return _DLMS_UNITS[i:_DLMS_UNITS.index(",", i)]
