"""InfluxDB's line protocol for one reading, with the meter's exact digits.

Imported only by a reader that pushes to InfluxDB (firmware/http_push.py).
Escaping follows InfluxDB's line protocol reference (docs.influxdata.com,
"Line protocol"): commas and spaces in the measurement; commas, equals signs
and spaces in tag keys, tag values and field keys; double quotes and
backslashes in string field values.
"""

from metereye.decimal import format_decimal, parse_decimal


def line(reading, measurement, tags):
    """`reading` as one point, with its newline: `measurement`, the `tags` ((key,
    value) pairs, in order), a field per value and the time in seconds, left
    out when unknown (the server's time then).

    A decimal is a field with exactly the meter's digits (only the leading zeros
    and sign a number may not carry are dropped); InfluxDB keeps it as a float.
    Anything else (a date, a code) is a string field.
    """
    parts = [_escape(measurement, ", ")]
    for key, value in tags:
        parts.append(",%s=%s" % (_escape(key, ",= "), _escape(value, ",= ")))
    sep = " "
    for key, value, _ in reading.values:
        parsed = parse_decimal(value)
        if parsed is not None:
            field = format_decimal(parsed[0], parsed[1])
        else:
            field = '"%s"' % _escape(value, '"\\')
        parts.append("%s%s=%s" % (sep, _escape(key, ",= "), field))
        sep = ","
    if reading.t is not None:
        parts.append(" %d" % reading.t)
    parts.append("\n")
    return "".join(parts)


def _escape(text, special):
    """`text` with a backslash before each character of `special`."""
    for ch in special:
        if ch in text:
            break
    else:
        return text
    out = []
    for ch in text:
        if ch in special:
            out.append("\\")
        out.append(ch)
    return "".join(out)
