"""IEC 62056-21 (ex IEC 61107) and DSMR P1: the messages as events, and the
builders of what the hand-held unit (HHU) sends. Sans-I/O.

The messages (docs/iec62056-21.md §3, §4, §7):

    request          "/" "?" [address] "!" CR LF                    HHU, 300 Bd
    identification   "/" XXX Z {"\\" W} text CR LF                  meter (iec_ident.py)
    ack/option       ACK V Z Y CR LF                                HHU, mode C
    data message     STX data-block "!" CR LF ETX BCC               meter, modes A-C
    push telegram    identification data-block "!" [CRC4] CR LF     mode D, DSMR P1
    command          SOH C D [STX data-block] ETX BCC               programming mode

The stream reader (iec_stream.py) gives these events; the session
(iec_session.py) sends what the builders make.
"""

from metereye.compat import const
from metereye.crc import bcc
from metereye.guard import check_iec

_SOH = const(0x01)
_STX = const(0x02)
_ETX = const(0x03)
_ACK = const(0x06)
_LF = const(0x0A)
_CR = const(0x0D)


class Request:
    """A sign-on request: ours echoed by the head, or one in a capture."""

    def __init__(self, address):
        self.address = address          # "" when the request names no device

    def __repr__(self):
        return "Request(%r)" % self.address


class Ack:
    """ACK V Z Y: protocol control, baud character, mode control; a lone ACK has None."""

    def __init__(self, v=None, z=None, y=None):
        self.v = v
        self.z = z
        self.y = y

    def __repr__(self):
        return "Ack(%s %s %s)" % (self.v, self.z, self.y)


class Nak:
    """NAK: the meter asks for the last message again (programming mode)."""


NAK = Nak()


class Command:
    """A programming-mode command message: SOH, then e.g. "R1"; its data sets follow."""

    def __init__(self, command):
        self.command = command

    def __repr__(self):
        return "Command(%s)" % self.command


class DataSet:
    """One data set: the id as the meter wrote it and its (value, unit) pairs.

    unit is None without "*", "" for "*" followed by nothing (docs/decisions.md §13).
    """

    def __init__(self, obis, values):
        self.obis = obis
        self.values = values

    def __repr__(self):
        return "DataSet(%s %r)" % (self.obis, self.values)


class End:
    """A data message ended; what its check said.

    check: "bcc", "crc" or None when the bytes carry none; ok: True, False, or
    None without a check; framed: the block opened with STX or SOH (never a push).
    """

    def __init__(self, check, ok, framed):
        self.check = check
        self.ok = ok
        self.framed = framed

    def __repr__(self):
        return "End(%s %s%s)" % (self.check, self.ok, " framed" if self.framed else "")


# --- builders ---------------------------------------------------------------

def request(address=""):
    """The sign-on request "/?" address "!" CR LF; the address picks one meter of several."""
    if len(address) > 32 or "!" in address or "/" in address:
        raise ValueError(address)
    return b"/?" + address.encode() + b"!\r\n"


def ack(baud_char="0", mode_control="0", protocol="0"):
    """ACK V Z Y CR LF: '0' normal protocol, Z our speed, Y '0' readout / '1' programming."""
    return bytes((_ACK, ord(protocol), ord(baud_char), ord(mode_control), _CR, _LF))


def command(cmd, data=b"", allow_write=False):
    """SOH cmd [STX data] ETX BCC. W and E are refused unless writing is on (guard);
    a P command needs its password in `data`."""
    check_iec(cmd, allow_write)
    if cmd[0] == "P" and not data:
        raise ValueError(cmd)
    out = bytearray((_SOH,))
    out.extend(cmd.encode())
    if data:
        out.append(_STX)
        out.extend(data)
    out.append(_ETX)
    out.append(bcc(out, 1))       # BCC from after SOH through ETX (docs/iec62056-21.md §4)
    return bytes(out)


def read_command(obis, arg="", cmd="R1"):
    """A read command (R1, R5, …) for register `obis`: SOH R1 STX obis(arg) ETX BCC."""
    return command(cmd, (obis + "(" + arg + ")").encode())


def password_command(password, cmd="P1"):
    """P1 (plain) or P2 (seeded) with the configured password."""
    if not password:
        raise ValueError(cmd)
    return command(cmd, ("(" + password + ")").encode())


BREAK = b"\x01B0\x03q"          # SOH B0 ETX BCC: end the session
