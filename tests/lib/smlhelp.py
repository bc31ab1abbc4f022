"""Helpers of the SML tests: the encoder from tools/ (it runs on both Pythons),
event descriptions, chunked feeding and frames derived from the real ones."""

import sys

from testvectors import ROOT

try:
    from metereye_tools import sml_encode
except ImportError:                 # unix MicroPython: tools/ is not on its path
    sys.path.append(ROOT + "/tools")
    from metereye_tools import sml_encode

from metereye import sml
from metereye.crc import crc16_kermit, crc16_x25


def describe(ev):
    """An event as plain data, to compare runs."""
    if isinstance(ev, sml.Telegram):
        return ("telegram", ev.crc, ev.crc_ok, ev.pad, ev.length,
                [(e.obis, e.value, e.unit, e.status) for e in ev.entries])
    t = getattr(ev, "telegram", None)
    return (ev.token, ev.args, describe(t) if t is not None else None)


def chunked(data, size, reader=None):
    """Every event of `data` fed `size` bytes at a time, finish() included."""
    reader = reader or sml.SmlReader()
    events = []
    for i in range(0, len(data), size):
        events.extend(reader.feed(data[i:i + size]))
    events.extend(reader.finish())
    return events


def with_transport_crc(frame, crc="x25"):
    """The frame with its trailer recomputed (low byte first, as X-25 goes)."""
    body = frame[:-2]
    value = crc16_kermit(body) if crc == "kermit" else crc16_x25(body)
    return body + bytes((value & 0xFF, value >> 8))


def kermit_frame(frame, messages_too=False):
    """A real frame re-sent with CRC-16/KERMIT: the transport CRC, and with
    `messages_too` every message CRC as well (derived, as Holley RS485 units do)."""
    if messages_too:
        return sml_encode.rebuild(sml_encode.messages(frame), "kermit", frame[-3])
    return with_transport_crc(frame, "kermit")


def small_telegram(entries=None, transaction=1, crc="x25"):
    """A short telegram from the encoder (a Holley-like server id)."""
    if entries is None:
        entries = [sml_encode.list_entry("1-0:1.8.0*255", 23559290, 30, -1),
                   sml_encode.list_entry("1-0:16.7.0*255", 376, 27, 0)]
    return sml_encode.telegram(b"\x0a\x01HLY\x02\x00\x0d\x6b\xe6", entries, transaction, crc)
