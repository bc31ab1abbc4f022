"""The check sums of the meter protocols, each in one place.

All work over buf[start:end] by index so that no slice is copied (docs/style.md R3).
"""

from metereye.compat import const

_XMODEM_POLY = const(0x1021)
_ARC_POLY_REFLECTED = const(0xA001)


def crc16_xmodem(buf, start=0, end=None):
    """KMP's CRC-16 (poly 0x1021, init 0, no reflection, no final XOR)."""
    if end is None:
        end = len(buf)
    crc = 0
    for i in range(start, end):
        crc ^= buf[i] << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ _XMODEM_POLY) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def crc16_arc(buf, start=0, end=None, crc=0):
    """DSMR P1's CRC-16/ARC (poly 0x8005 reflected, init 0); `crc` continues a run."""
    if end is None:
        end = len(buf)
    for i in range(start, end):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ _ARC_POLY_REFLECTED
            else:
                crc >>= 1
    return crc


def bcc(buf, start=0, end=None, acc=0):
    """IEC 62056-21 block check: XOR of the bytes; `acc` continues a run."""
    if end is None:
        end = len(buf)
    for i in range(start, end):
        acc ^= buf[i]
    return acc
