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


# CRC-16/CCITT processed reflected (poly 0x1021 as 0x8408), four bits at a
# time: sixteen entries keep the table tiny on the device, and two lookups a
# byte run several times faster than eight shifts (tools/bench/sml_decode.py).
_CCITT_NIBBLES = (0x0000, 0x1081, 0x2102, 0x3183, 0x4204, 0x5285, 0x6306, 0x7387,
                  0x8408, 0x9489, 0xA50A, 0xB58B, 0xC60C, 0xD68D, 0xE70E, 0xF78F)


def _ccitt_reflected(buf, start, end, crc):
    table = _CCITT_NIBBLES
    for i in range(start, end):
        crc ^= buf[i]
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
    return crc


def crc16_x25(buf, start=0, end=None):
    """SML's CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, final XOR 0xFFFF;
    "123456789" gives 0x906E). SML sends it low byte first (docs/sml.md §2)."""
    if end is None:
        end = len(buf)
    return _ccitt_reflected(buf, start, end, 0xFFFF) ^ 0xFFFF


def crc16_kermit(buf, start=0, end=None):
    """CRC-16/KERMIT (poly 0x1021 reflected, init 0, no final XOR; "123456789"
    gives 0x2189): what some Holley DTZ541 send instead of X-25 (docs/sml.md §2)."""
    if end is None:
        end = len(buf)
    return _ccitt_reflected(buf, start, end, 0)
