"""Helpers the IEC lib tests share: independent oracles (not the code under
test) that frame readouts and telegrams, and chunked decoding.

Runs on CPython and unix MicroPython like the tests that import it.
"""

from metereye import iec, iec_json
from metereye.errors import FrameError


def xor(data):
    acc = 0
    for b in data:
        acc ^= b
    return acc


def crc_arc(data):
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def readout(ident, lines, request=b""):
    """request + identification + STX lines "!" CR LF ETX BCC, BCC computed here."""
    block = "".join(line + "\r\n" for line in lines) + "!\r\n\x03"
    block = block.encode()
    return request + ident.encode() + b"\r\n\x02" + block + bytes((xor(block),))


def chunked(data, size):
    reader = iec.IecReader()
    events = []
    for i in range(0, len(data), size):
        events.extend(reader.feed(data[i:i + size]))
    events.extend(reader.finish())
    return events, reader


def decoded(data, size=None):
    if size is None:
        return iec_json.decode(data)[0]
    events, reader = chunked(data, size)
    return iec_json.decode_events(events, reader.skipped)[0]


def describe(ev):
    """An event as a comparable tuple."""
    if isinstance(ev, iec.DataSet):
        return ("set", ev.obis, tuple(ev.values))
    if isinstance(ev, iec.End):
        return ("end", ev.check, ev.ok, ev.framed)
    if isinstance(ev, iec.Identification):
        return ("ident", ev.manufacturer, ev.baud_char, tuple(ev.enhanced), ev.text)
    if isinstance(ev, iec.Request):
        return ("request", ev.address)
    if isinstance(ev, iec.Ack):
        return ("ack", ev.v, ev.z, ev.y)
    if isinstance(ev, iec.Command):
        return ("command", ev.command)
    if isinstance(ev, FrameError):
        return ("error", ev.token)
    return ("other", repr(ev))
