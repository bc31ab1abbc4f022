"""Exact decimals as integer mantissa and power of ten; never a float (docs/style.md R8)."""


def format_decimal(mantissa, exponent):
    """The number mantissa * 10**exponent written with exactly -exponent decimals.

    A positive exponent is written as a plain integer: 19591204 * 10**17 is
    "1959120400000000000000000", not "1.9591204e24".
    """
    if exponent >= 0:
        return str(mantissa * 10 ** exponent)
    sign = "-" if mantissa < 0 else ""
    digits = str(-mantissa if mantissa < 0 else mantissa)
    places = -exponent
    if len(digits) <= places:
        digits = "0" * (places - len(digits) + 1) + digits
    return sign + digits[:-places] + "." + digits[-places:]


def parse_decimal(text):
    """(mantissa, exponent) of a plain decimal such as "-000073.69", or None.

    Accepts what meters write: optional sign, digits, optional fraction; spaces
    around it are ignored. Anything else (hex, dates, empty) is not a number.
    """
    s = text.strip()
    if not s:
        return None
    sign = 1
    if s[0] in "+-":
        if s[0] == "-":
            sign = -1
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if not whole or not whole.isdigit() or (dot and frac and not frac.isdigit()):
        return None
    if dot and not frac:
        return None
    return sign * int(whole + frac), -len(frac)


def shift_decimal(text, places):
    """The decimal string `text` multiplied by 10**places, exactly.

    l/h to m³/h is shift_decimal(v, -3): the decimal point moves, no float.
    """
    parsed = parse_decimal(text)
    if parsed is None:
        raise ValueError(text)
    mantissa, exponent = parsed
    return format_decimal(mantissa, exponent + places)
