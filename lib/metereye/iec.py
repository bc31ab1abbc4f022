"""IEC 62056-21 (ex IEC 61107) and DSMR P1: messages, streaming parser, client session. Sans-I/O.

The messages (docs/iec62056-21.md §3, §4, §7):

    request          "/" "?" [address] "!" CR LF                    HHU, 300 Bd
    identification   "/" XXX Z {"\\" W} text CR LF                  meter
    ack/option       ACK V Z Y CR LF                                HHU, mode C
    data message     STX data-block "!" CR LF ETX BCC               meter, modes A-C
    push telegram    identification data-block "!" [CRC4] CR LF     mode D, DSMR P1
    command          SOH C D [STX data-block] ETX BCC               programming mode

`IecReader` turns bytes into events (Request, Identification, Ack, NAK, Command,
DataSet, End, or a FrameError instance) in bounded memory: it keeps one field of
one data set, never the telegram, and checks BCC and CRC as the bytes pass.
`IecSession` reads a meter in mode A, B or C and tells its driver what to do
(the actions.py vocabulary). Pushed telegrams (mode D, P1) are p1.py's.
"""

from metereye.actions import Done, Receive, Send, SetLine, Sleep, wire_ms
from metereye.compat import const
from metereye.crc import bcc, crc16_arc
from metereye.errors import (
    BccMismatch,
    CrcMismatch,
    DataSetError,
    FrameError,
    FrameTooLong,
    NotAFrame,
    NotIec,
    Truncated,
)
from metereye.guard import check_iec

_SOH = const(0x01)
_STX = const(0x02)
_ETX = const(0x03)
_ACK = const(0x06)
_LF = const(0x0A)
_CR = const(0x0D)
_NAK = const(0x15)
_ESC = const(0x1B)
_BANG = const(0x21)
_AMP = const(0x26)
_LPAR = const(0x28)
_RPAR = const(0x29)
_STAR = const(0x2A)
_SLASH = const(0x2F)
_QUEST = const(0x3F)
_DEL = const(0x7F)

INITIAL_BAUD = const(300)
FRAMING = "7E1"           # IEC 62056-21 §2: 1 start, 7 data, even parity, 1 stop

# Baud characters (docs/iec62056-21.md §2): mode C '0'..'6', mode B 'A'..'F'; the rest reserved.
_C_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
_B_BAUDS = (600, 1200, 2400, 4800, 9600, 19200)

# Reader states.
_HUNT = const(0)      # noise until "/", SOH, STX or ACK
_SLASH1 = const(1)    # after "/": "?" makes a request, anything else an identification
_REQUEST = const(2)   # request address up to "!"
_IDENT = const(3)     # identification text up to the line end
_AFTER = const(4)     # identification done: STX, push data lines, our ACK's echo, noise
_LINE = const(5)      # data block, outside parentheses: id characters collect
_GROUP = const(6)     # inside "(" … ")"
_END = const(7)       # after "!": optional CRC digits up to the line end
_TAIL = const(8)      # end line of an STX block done: waiting for ETX
_BCC = const(9)       # the next byte is the block check character
_CMD = const(10)      # after SOH: command letters up to STX or ETX
_ACKMSG = const(11)   # after ACK: V Z Y up to the line end

_CHK = const(32)      # bytes gathered before the BCC/CRC run over them


# --- messages ---------------------------------------------------------------

class Request:
    """A sign-on request: ours echoed by the head, or one in a capture."""

    def __init__(self, address):
        self.address = address          # "" when the request names no device

    def __repr__(self):
        return "Request(%r)" % self.address


class Identification:
    """The meter's identification line: /XXXZ[\\W…]text."""

    def __init__(self, manufacturer, baud_char, enhanced, text):
        self.manufacturer = manufacturer
        self.baud_char = baud_char
        self.enhanced = enhanced        # the W of every "\W", in order
        self.text = text

    @property
    def mode(self):
        """Mode "A", "B", "C" or "C or E" from the baud character alone (docs/decisions.md §11)."""
        z = self.baud_char
        if "0" <= z <= "9":
            return "C or E" if "2" in self.enhanced else "C"
        if "A" <= z <= "I":
            return "B"
        return "A"

    @property
    def baud(self):
        """The speed Z offers, 300 in mode A, None for a reserved character."""
        z = self.baud_char
        if "0" <= z <= "9":
            i = ord(z) - 0x30
            return _C_BAUDS[i] if i < len(_C_BAUDS) else None
        if "A" <= z <= "I":
            i = ord(z) - 0x41
            return _B_BAUDS[i] if i < len(_B_BAUDS) else None
        return INITIAL_BAUD

    @property
    def reaction_ms(self):
        """The meter's minimum reaction time: 20 ms when XXX's third letter is
        lower case, else 200 ms (IEC 62056-21 §3; libIEC62056's test)."""
        c = self.manufacturer[2]
        return 20 if "a" <= c <= "z" else 200

    def __repr__(self):
        return "Identification(/%s%s %r)" % (self.manufacturer, self.baud_char, self.text)


def parse_identification(line):
    """The Identification of a line without its "/" and CR LF, or None."""
    if len(line) < 4:
        return None
    for c in line[:3]:
        if not ("A" <= c <= "Z" or "a" <= c <= "z"):
            return None
    enhanced = []
    i = 4
    # "\W" pairs directly after Z; W is exactly one character (docs/iec62056-21.md §3).
    while i + 1 < len(line) and line[i] == "\\":
        enhanced.append(line[i + 1])
        i += 2
    return Identification(line[:3], line[3], enhanced, line[i:])


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


def _ended(err, end):
    # The frame's end travels with the error, like KMP's partial frame.
    err.end = end
    return err


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


def baud_char_for(offered, max_baud):
    """The mode C character to propose: the meter's offer, capped at max_baud."""
    best = "0"
    limit = ord(offered) - 0x30 if "0" <= offered <= "9" else 0
    if limit >= len(_C_BAUDS):
        limit = 0                   # '7'..'9' are reserved: stay at 300
    for i in range(limit + 1):
        if _C_BAUDS[i] <= max_baud:
            best = chr(0x30 + i)
    return best


def mode_c_baud(baud_char):
    i = ord(baud_char) - 0x30
    return _C_BAUDS[i] if 0 <= i < len(_C_BAUDS) else INITIAL_BAUD


# --- the streaming reader ---------------------------------------------------

class IecReader:
    """Bytes from the optical head in, events out. No I/O, no clock.

    Events: Request, Identification, Ack, NAK, Command, DataSet, End, and
    FrameError instances (BccMismatch, CrcMismatch, Truncated, NotIec,
    FrameTooLong, DataSetError, NotAFrame) that the reader returns and goes on.
    A data set comes out once nothing can add to it: at the next id, or at the
    next line unless that line starts with "(" (DSMR 2.2 continues the gas
    value there), or at the end line. Bytes are masked with 0x7F (an 8N1 read of
    a 7E1 line), after the raw bytes were checked for SML's escape sequence.
    """

    # The longest id, value or unit kept, in bytes. DSMR text messages
    # (0-0:96.13.0, up to 2048 hex digits) exceed it: they come out as a
    # FrameTooLong event and the rest of the telegram still reads.
    MAX_FIELD = 512
    # Values of one data set (Belgian 0-0:98.1.0 holds 13 months of peaks, 41 groups).
    MAX_GROUPS = 64
    # Data sets held back on one line before they are let out early.
    MAX_LINE_SETS = 16

    def __init__(self, max_field=None):
        self._buf = bytearray(max_field or self.MAX_FIELD)
        self._mv = memoryview(self._buf)
        self._chk = bytearray(_CHK)
        self.skipped = 0        # bytes discarded before the first message
        self._messages = 0
        self._events = None
        self._escs = 0          # SML escape: 1B 1B 1B 1B, then 01 01 01 01
        self._ones = 0
        self._sml = False
        self._skip = 0
        self._state = _HUNT
        self._clear()

    def reset(self):
        """Forget everything but the buffers (a new session on the same reader)."""
        self.skipped = 0
        self._messages = 0
        self._escs = self._ones = self._skip = 0
        self._sml = False
        self._state = _HUNT
        self._clear()

    @property
    def stx(self):
        """True once the current frame's data block opened with STX or SOH."""
        return self._framed

    def _clear(self):
        self._n = 0
        self._nchk = 0
        self._crc = 0
        self._crc_on = False
        self._bcc = 0
        self._bcc_on = False
        self._framed = False
        self._data = False          # a data set was started in this frame
        self._sets = []             # data sets not yet let out
        self._complete = 0          # how many of them have their line complete
        self._cur = None            # the set a "(" adds to
        self._line_start = True
        self._dropping = False      # the current id overflowed: its groups go too
        self._overflow = False
        self._star = -1
        self._parts = 0
        self._with_unit = 0
        self._part_star = False
        self._ret = _HUNT

    def feed(self, data):
        """Consume bytes; return the events they complete (the empty tuple when none)."""
        for b in data:
            # SML (docs/iec62056-21.md §5) is checked on the raw bytes, before the mask.
            if b == _ESC:
                if self._escs < 4:
                    self._escs += 1
                self._ones = 0
            elif self._escs == 4 and b == 0x01:
                self._ones += 1
                if self._ones == 4:
                    self._sml_begins()
                    continue
            elif self._escs == 4 and b == 0x1A and self._ones == 0 and self._sml:
                self._sml = False       # end escape; fill count and CRC follow
                self._skip = 3
                self._escs = 0
                continue
            else:
                self._escs = 0
                self._ones = 0
            if self._sml:
                continue
            if self._skip:
                self._skip -= 1
                continue
            self._step(b & 0x7F)
        events = self._events
        self._events = None
        return events or ()

    def finish(self):
        """End of input or timeout: what the open frame amounts to, as events."""
        st = self._state
        if st == _LINE or st == _GROUP:
            if self._framed or self._data or self._n:
                self._truncate()
        elif st == _END:
            if self._framed or self._n:
                self._truncate()
            else:
                self._emit(End(None, None, False))     # "!" at the end of the stream
        elif st == _ACKMSG:
            self._ack_done()
        elif st != _HUNT and st != _AFTER:
            self._truncate()
        self._state = _HUNT
        self._clear()
        events = self._events
        self._events = None
        return events or ()

    # -- internals --

    def _emit(self, ev):
        if self._events is None:
            self._events = []
        self._events.append(ev)

    def _sml_begins(self):
        self._escs = self._ones = 0
        if not self._sml:
            self._sml = True
            self._messages += 1
            self._emit(NotIec())
        self._state = _HUNT
        self._clear()

    def _flush(self):
        n = self._nchk
        if n:
            if self._crc_on:
                self._crc = crc16_arc(self._chk, 0, n, self._crc)
            if self._bcc_on:
                self._bcc = bcc(self._chk, 0, n, self._bcc)
            self._nchk = 0

    def _store(self, b):
        if self._n < len(self._buf):
            self._buf[self._n] = b
            self._n += 1
            return True
        if not self._overflow:
            self._overflow = True
            self._emit(FrameTooLong(len(self._buf)))
        return False

    def _text(self, start, end):
        return str(self._mv[start:end], "ascii")

    def _open_frame(self):
        # "/" begins a frame: the P1 CRC runs from it through "!" (docs/iec62056-21.md §5).
        self._clear()
        self._crc_on = True
        self._chk[0] = _SLASH
        self._nchk = 1
        self._state = _SLASH1

    def _open_block(self):
        # STX: the BCC runs from the next byte through ETX (docs/iec62056-21.md §4); after
        # SOH it already runs and covers the command and the STX.
        self._flush()
        if not self._bcc_on:
            self._bcc = 0
            self._bcc_on = True
        self._framed = True
        self._sets = []
        self._complete = 0
        self._cur = None
        self._n = 0
        self._line_start = True
        self._state = _LINE

    def _step(self, b):
        if self._crc_on or self._bcc_on:
            self._chk[self._nchk] = b
            self._nchk += 1
            if self._nchk == _CHK:
                self._flush()
        while True:
            st = self._state
            if st == _GROUP:
                if b == _RPAR:
                    self._close_group()
                    self._state = _LINE
                elif b == _SLASH:
                    # "/" is not allowed in a value (IEC 62056-21): a new frame
                    # begins, this one was cut. Resync at once.
                    self._truncate()
                    self._open_frame()
                elif b == _CR or b == _LF:
                    self._emit(DataSetError("line end in a value"))
                    self._n = 0
                    self._state = _LINE
                    self._line_end()
                elif b == _ETX:
                    self._emit(DataSetError("ETX in a value"))
                    self._n = 0
                    self._state = _LINE
                    continue
                elif b == _LPAR:
                    self._emit(DataSetError("( in a value"))
                    self._n = 0                 # the broken group goes; a new one opens
                    self._open_group()
                elif b < 0x20 or b == _DEL:
                    pass
                else:
                    if b == _STAR:
                        if self._star < 0:
                            self._star = self._n
                        self._part_star = True
                    elif b == _AMP:
                        self._parts += 1
                        if self._part_star:
                            self._with_unit += 1
                        self._part_star = False
                    self._store(b)
                return
            if st == _LINE:
                if b == _LPAR:
                    self._open_group()
                elif b == _CR or b == _LF:
                    self._line_end()
                elif b == _BANG:
                    self._end_line()
                elif b == _ETX:
                    if self._framed:
                        self._block_end()
                elif b == _SLASH:
                    self._truncate()
                    self._open_frame()
                elif b == _STX:
                    if not self._framed:
                        # Lines before STX were noise (a baud switch's garbage).
                        self._open_block()
                elif b == _RPAR:
                    self._emit(DataSetError(")"))
                    self._n = 0
                elif b < 0x20 or b == _DEL:
                    pass
                else:
                    if self._n == 0:
                        if self._line_start and self._sets:
                            self._let_out(len(self._sets))
                        self._cur = None
                        self._dropping = False
                        self._overflow = False
                    self._line_start = False
                    if not self._store(b):
                        self._dropping = True
                return
            if st == _HUNT:
                if b == _SLASH:
                    self._open_frame()
                elif b == _STX:
                    self._clear()
                    self._messages += 1
                    self._open_block()
                elif b == _SOH:
                    self._clear()
                    self._bcc_on = True
                    self._state = _CMD
                elif b == _ACK:
                    self._n = 0
                    self._ret = _HUNT
                    self._state = _ACKMSG
                elif b == _NAK:
                    self._messages += 1
                    self._emit(NAK)
                elif not self._messages:
                    self.skipped += 1
                return
            if st == _SLASH1:
                if b == _QUEST:
                    self._crc_on = False
                    self._n = 0
                    self._state = _REQUEST
                    return
                self._n = 0
                self._state = _IDENT
                continue
            if st == _IDENT:
                if b == _CR or b == _LF:
                    self._ident_done()
                elif b == _SLASH:
                    self._open_frame()          # what came before was no identification
                elif b >= 0x20 and b != _DEL:
                    if not self._store(b):
                        self._state = _HUNT
                        self._crc_on = False
                return
            if st == _AFTER:
                if b == _STX:
                    self._open_block()
                elif b == _ACK:
                    self._n = 0
                    self._ret = _AFTER
                    self._state = _ACKMSG
                elif b == _SLASH:
                    self._open_frame()
                elif b == _SOH:
                    self._clear()
                    self._bcc_on = True
                    self._state = _CMD
                elif b < 0x20 or b == _DEL:
                    pass                        # blank lines, noise before STX
                else:
                    self._line_start = True     # a push: data lines without STX
                    self._state = _LINE
                    continue
                return
            if st == _END:
                if b == _CR or b == _LF:
                    self._end_done()
                elif b == _ETX and self._framed:
                    self._etx()
                elif b == _SLASH:
                    self._end_done()
                    continue
                elif b < 0x20 or b == _DEL:
                    pass
                elif self._n < 8:
                    self._buf[self._n] = b
                    self._n += 1
                return
            if st == _TAIL:
                if b == _ETX:
                    self._etx()
                elif b == _SLASH:
                    self._truncate()
                    self._open_frame()
                return
            if st == _BCC:
                self._messages += 1
                self._state = _HUNT
                if b == self._bcc:
                    self._emit(End("bcc", True, True))
                else:
                    self._emit(_ended(BccMismatch(self._bcc, b), End("bcc", False, True)))
                self._clear()
                return
            if st == _REQUEST:
                if b == _BANG:
                    self._messages += 1
                    self._emit(Request(self._text(0, self._n)))
                    self._state = _HUNT
                elif b == _SLASH:
                    self._open_frame()
                elif b == _CR or b == _LF or self._n >= 32:
                    self._emit(NotAFrame("request"))
                    self._state = _HUNT
                elif b >= 0x20:
                    self._buf[self._n] = b
                    self._n += 1
                return
            if st == _CMD:
                if b == _STX or b == _ETX:
                    self._messages += 1
                    self._emit(Command(self._text(0, self._n)))
                    if b == _STX:
                        self._open_block()
                    else:
                        self._framed = True
                        self._etx()
                elif 0x20 < b < _DEL and self._n < 4:
                    self._buf[self._n] = b
                    self._n += 1
                else:
                    self._clear()               # a stray SOH: noise
                    self._state = _HUNT
                return
            if st == _ACKMSG:
                if b == _CR or b == _LF:
                    self._ack_done()
                    return
                if 0x20 <= b < _DEL and self._n < 3:
                    self._buf[self._n] = b
                    self._n += 1
                    return
                self._ack_done()
                continue
            return

    def _ident_done(self):
        ident = None
        if not self._overflow:
            ident = parse_identification(self._text(0, self._n))
        self._n = 0
        if ident is None:
            if not self._overflow:
                self._emit(NotAFrame("identification"))
            self._crc_on = False
            self._state = _HUNT
            return
        self._messages += 1
        self._emit(ident)
        self._state = _AFTER

    def _ack_done(self):
        buf = self._buf
        if self._n == 3:
            self._emit(Ack(chr(buf[0]), chr(buf[1]), chr(buf[2])))
        else:
            self._emit(Ack())
        self._messages += 1
        self._n = 0
        self._state = self._ret

    def _open_group(self):
        if self._n or self._dropping:
            if self._dropping:
                self._cur = None
            else:
                self._new_set(self._text(0, self._n))
        elif self._cur is None:
            self._new_set("")       # "(…)" with no id: a P0 operand, or no set to continue
        self._line_start = False
        self._n = 0
        self._overflow = False
        self._star = -1
        self._parts = 0
        self._with_unit = 0
        self._part_star = False
        self._state = _GROUP

    def _new_set(self, obis):
        if len(self._sets) >= self.MAX_LINE_SETS:
            self._let_out(len(self._sets))
        ds = DataSet(obis, [])
        self._sets.append(ds)
        self._cur = ds
        self._data = True

    def _close_group(self):
        n = self._n
        cur = self._cur
        self._n = 0
        if self._overflow or cur is None:
            return
        values = cur.values
        if len(values) >= self.MAX_GROUPS:
            self._emit(FrameTooLong(self.MAX_GROUPS))
            self._dropping = True       # the set's further groups go without a word
            return
        parts = self._parts + 1
        with_unit = self._with_unit + (1 if self._part_star else 0)
        if parts > 1 and with_unit == parts:
            # "098.5*C&096.1*C": every part has its own unit, so they are two
            # values; "2022-05-19&19:41:17" or "0&1&0" stay one (docs/iec62056-21.md §4).
            start = 0
            buf = self._buf
            for i in range(n + 1):
                if i == n or buf[i] == _AMP:
                    values.append(self._value(start, i))
                    start = i + 1
        elif self._star < 0:
            values.append((self._text(0, n), None))
        else:
            values.append((self._text(0, self._star), self._text(self._star + 1, n)))

    def _value(self, start, end):
        buf = self._buf
        for i in range(start, end):
            if buf[i] == _STAR:
                return (self._text(start, i), self._text(i + 1, end))
        return (self._text(start, end), None)

    def _let_out(self, count):
        sets = self._sets
        for i in range(count):
            if sets[i].values:      # a set whose only group broke is no data set
                self._emit(sets[i])
        del sets[:count]
        self._complete = 0

    def _line_end(self):
        if self._n:
            self._emit(DataSetError("text without a value"))
            self._n = 0
        sets = self._sets
        if sets:
            # All but the last are complete; the last waits for a "(" line.
            if len(sets) > 1:
                self._let_out(len(sets) - 1)
            self._complete = 1
        self._line_start = True
        self._dropping = False

    def _end_line(self):
        if self._n:
            self._emit(DataSetError("text before !"))
            self._n = 0
        self._let_out(len(self._sets))
        self._flush()               # "!" is the last byte the P1 CRC covers
        self._crc_on = False
        self._state = _END

    def _end_done(self):
        if self._framed:
            self._n = 0
            self._state = _TAIL
            return
        n = self._n
        self._messages += 1
        self._state = _HUNT
        if n == 0:
            self._emit(End(None, None, False))
        else:
            got = self._hex(n)
            if got == self._crc:
                self._emit(End("crc", True, False))
            else:
                self._emit(_ended(CrcMismatch(self._crc, self._text(0, n)), End("crc", False, False)))
        self._clear()

    def _hex(self, n):
        # Four hex digits, either case ("f2C9" occurs, docs/iec62056-21.md §5); else -1.
        if n != 4:
            return -1
        value = 0
        buf = self._buf
        for i in range(4):
            c = buf[i]
            if 0x30 <= c <= 0x39:
                d = c - 0x30
            elif 0x41 <= c <= 0x46:
                d = c - 0x37
            elif 0x61 <= c <= 0x66:
                d = c - 0x57
            else:
                return -1
            value = (value << 4) | d
        return value

    def _block_end(self):
        # ETX closes a block without an end line (an answer to R1, a command).
        if self._n:
            self._emit(DataSetError("text before ETX"))
            self._n = 0
        self._let_out(len(self._sets))
        self._etx()

    def _etx(self):
        self._flush()               # ETX is the last byte the BCC covers
        self._bcc_on = False
        self._state = _BCC

    def _truncate(self):
        # Sets whose line was complete count as read; the broken line does not.
        self._let_out(self._complete)
        self._sets = []
        self._emit(_ended(Truncated(self._state), End(None, None, self._framed)))
        self._messages += 1
        self._clear()
        self._state = _HUNT


# --- the client session (modes A, B, C) -------------------------------------

class IecResult:
    """What one session read, and what it saw of the line."""

    def __init__(self):
        self.identification = None
        self.objects = []           # DataSet events kept (see IecSession keep)
        self.datasets = 0           # data sets seen, kept or not
        self.check = None           # "bcc", "crc" or None
        self.bcc_ok = None          # True / False, None without a check
        self.mode = None            # "A", "B" or "C" as read (a "C or E" meter reads in C)
        self.baud = INITIAL_BAUD    # speed the data came at
        self.baud_char = None       # Z proposed in our ACK (mode C)
        self.fallback = False       # the meter did not follow its offer: read at 300
        self.echo_seen = False
        self.attempts = 0           # sign-ons sent
        self.bytes_sent = 0
        self.bytes_received = 0
        self.ident_ms = None        # request on the wire → identification
        self.readout_ms = None      # request on the wire → end of the data message
        self.errors = []            # FrameError instances, in order
        self.outcome = None         # "ok", "garbled", "asleep", "no_echo"

    @property
    def complete(self):
        return self.outcome == "ok"


_P_SIGN_ON = const(0)
_P_ACK_WAIT = const(1)
_P_ACK_SENT = const(2)
_P_SWITCH_WAIT = const(3)
_P_SWITCH = const(4)
_P_DATA = const(5)
_P_BACK = const(6)
_P_DRAIN = const(7)
_P_RETRY = const(8)
_P_DONE = const(9)


class IecSession:
    """Reads one meter's data message in mode A, B or C.

    The driver calls start(now_ms) and acts on each returned action (actions.py):
    Send (then sent), SetLine (then line_set), Sleep (then woke), Receive (then
    received(chunk) per chunk, received(b"") at the deadline) until Done. While
    data flows, received() may return a new Receive with a later deadline: the
    deadline grows with the data (a 300 Bd readout can take 90 s, docs/iec62056-21.md §3).

    Mode C with a speed change goes: Send(request @300) → Receive →
    Sleep(reaction time) → Send(ACK 0 Z 0 @300) → [Sleep(switch_delay_ms)] →
    SetLine(new speed) → Receive … → Done. Mode B: Send → Receive → SetLine → Receive.
    Mode A: Send → Receive → Done.

    Quirks, each an argument: `wake` bytes before the request (Ultraheat's NUL
    pre-roll), `switch_delay_ms` after the ACK has left the wire (USB adapters,
    docs/iec62056-21.md §3), `fallback` to sign on again proposing '0' when the meter sends
    nothing readable at its own offer, `max_baud` (our UART and head), `keep`
    (OBIS ids to keep, as obis.base gives them; None keeps all).
    """

    # IEC 62056-21 §3: reaction time 200 ms…1.5 s; gaps inside a message < 1.5 s.
    reaction_max_ms = 1500
    inter_char_ms = 1500
    # Driver and adapter latency on top of the standard's times.
    slack_ms = 500
    # Before signing on again: the meter drops back to 300 Bd after its timeout.
    retry_delay_ms = 2000
    retries = 1
    # An identification line of up to 16 characters by the standard; real ones are longer.
    ident_chars = 48
    # The longest readout we wait for (EMH ITZ: ~90 s at 300 Bd, docs/iec62056-21.md §3).
    max_readout_ms = 150000

    def __init__(self, address="", max_baud=9600, framing=FRAMING, wake=b"",
                 switch_delay_ms=0, fallback=True, mode_control="0", keep=None,
                 ident_only=False):
        self.address = address
        self.ident_only = ident_only    # stop at the identification (detect: one cheap look)
        self.max_baud = max_baud
        self.framing = framing
        self.wake = wake
        self.switch_delay_ms = switch_delay_ms
        self.fallback = fallback
        self.mode_control = mode_control
        self.keep = keep
        if keep is not None:
            from metereye.obis import base   # the catalogue only when filtering (R13)
            self._base = base
        self.result = IecResult()
        self._reader = IecReader()
        self._phase = _P_SIGN_ON
        self._tries = 0
        self._zero = False          # propose '0' (after a failed switch)
        self._line = INITIAL_BAUD
        self._new_baud = INITIAL_BAUD
        self._z = "0"
        self._deadline = 0
        self._limit = 0
        self._t_req = 0
        self._on_wire = 0           # when the last Send has left the wire
        self._cr_last = False       # the last chunk ended with CR
        self._opened = False

    def start(self, now_ms):
        return self._sign_on(now_ms)

    def sent(self, now_ms):
        # A pty, a socket or a USB adapter says "sent" before the bytes are on
        # the wire; a UART's TX-done says it after. Count from whichever is later,
        # so the switch never comes before the ACK's last bit (docs/iec62056-21.md §3).
        if self._phase == _P_ACK_SENT and now_ms < self._on_wire:
            self._phase = _P_SWITCH_WAIT
            return Sleep(self._on_wire + self.switch_delay_ms)
        if now_ms < self._on_wire:
            now_ms = self._on_wire
        if self._phase == _P_SIGN_ON:
            self._t_req = now_ms
            self._limit = now_ms + self.max_readout_ms
            return self._receive(now_ms + self.reaction_max_ms + self.slack_ms
                                 + wire_ms(self.ident_chars, INITIAL_BAUD, self.framing))
        if self._new_baud == INITIAL_BAUD:
            return self._data(now_ms)
        if self.switch_delay_ms:
            self._phase = _P_SWITCH_WAIT
            return Sleep(now_ms + self.switch_delay_ms)
        return self._switch()

    def woke(self, now_ms):
        if self._phase == _P_ACK_WAIT:
            ack_msg = ack(self._z, self.mode_control)
            self.result.baud_char = self._z
            self.result.bytes_sent += len(ack_msg)
            self._new_baud = mode_c_baud(self._z)
            self._phase = _P_ACK_SENT
            self._on_wire = now_ms + wire_ms(len(ack_msg), INITIAL_BAUD, self.framing)
            return Send(ack_msg, INITIAL_BAUD, self.framing)
        if self._phase == _P_SWITCH_WAIT:
            return self._switch()
        return self._sign_on(now_ms)

    def line_set(self, now_ms):
        if self._phase == _P_BACK:
            self._phase = _P_DRAIN
            return self._receive(now_ms + self.inter_char_ms + self.slack_ms)
        return self._data(now_ms)

    def received(self, data, now_ms):
        r = self.result
        if not data:
            return self._timeout(now_ms)
        r.bytes_received += len(data)
        if self._phase == _P_DRAIN:
            # The meter's readout at 300 Bd that we missed: wait until it is over.
            return self._renew(now_ms)
        self._cr_last = data[-1] & 0x7F == _CR
        action = self._on_events(self._reader.feed(data), now_ms)
        if action is not None:
            return action
        if self._phase == _P_DATA and (self._opened or self._reader.stx):
            self._opened = True
            return self._renew(now_ms)
        return None

    # -- internals --

    def _receive(self, deadline):
        self._deadline = deadline
        return Receive(deadline)

    def _renew(self, now_ms):
        # A new Receive at most every inter_char_ms: the deadline stays between
        # one and two inter-character times after the last chunk.
        if now_ms + self.inter_char_ms + self.slack_ms <= self._deadline or self._deadline >= self._limit:
            return None
        return self._receive(min(now_ms + 2 * self.inter_char_ms + self.slack_ms, self._limit))

    def _sign_on(self, now_ms):
        r = self.result
        self._reader.reset()
        self._phase = _P_SIGN_ON
        self._line = INITIAL_BAUD
        self._opened = False
        r.attempts += 1
        data = self.wake + request(self.address)
        r.bytes_sent += len(data)
        self._on_wire = now_ms + wire_ms(len(data), INITIAL_BAUD, self.framing)
        return Send(data, INITIAL_BAUD, self.framing)

    def _switch(self):
        self._phase = _P_SWITCH
        self._line = self._new_baud
        self.result.baud = self._new_baud
        return SetLine(self._new_baud, self.framing)

    def _data(self, now_ms):
        # The first sign of the data message (STX, a data set) within the
        # reaction time; after that the deadline follows the data.
        self._phase = _P_DATA
        self._opened = False
        return self._receive(now_ms + self.reaction_max_ms + self.slack_ms
                             + wire_ms(40, self._line, self.framing))

    def _on_ident(self, ident, now_ms):
        r = self.result
        r.identification = ident
        r.ident_ms = now_ms - self._t_req
        mode = ident.mode
        if self.ident_only:
            r.mode = mode[0]
            r.outcome = "ok"
            return self._done()
        if mode == "B":
            r.mode = "B"
            # The meter changes speed right after its identification, no ACK
            # (docs/iec62056-21.md §2); we follow even above max_baud: it will not wait.
            self._new_baud = ident.baud or INITIAL_BAUD
            if self._new_baud != INITIAL_BAUD:
                return self._switch()
            return self._data(now_ms)
        if mode[0] == "C":
            r.mode = "C"                # "C or E": read in mode C (docs/decisions.md §11)
            self._z = "0" if self._zero else baud_char_for(ident.baud_char, self.max_baud)
            self._phase = _P_ACK_WAIT
            # The HHU waits the meter's minimum reaction time before it answers,
            # counted from the end of the identification's LF: the reader reports
            # the line at its CR, so a chunk ending there still has one character to come.
            wait = ident.reaction_ms
            if self._cr_last:
                wait += wire_ms(1, INITIAL_BAUD, self.framing)
            return Sleep(now_ms + wait)
        r.mode = "A"
        return self._data(now_ms)

    def _on_events(self, events, now_ms):
        r = self.result
        action = None
        for ev in events:
            if isinstance(ev, DataSet):
                r.datasets += 1
                self._opened = True
                if self.keep is None or self._base(ev.obis) in self.keep:
                    r.objects.append(ev)
            elif isinstance(ev, End):
                return self._frame_done(ev, None, now_ms)
            elif isinstance(ev, Identification):
                if self._phase == _P_SIGN_ON and action is None:
                    action = self._on_ident(ev, now_ms)
            elif isinstance(ev, (Request, Ack)):
                r.echo_seen = True      # our own light: the request or the ACK
            elif isinstance(ev, FrameError):
                end = getattr(ev, "end", None)
                if isinstance(ev, NotIec):
                    r.errors.append(ev)         # an SML meter: no sign-on will help
                    r.outcome = "garbled"
                    return self._done()
                if end is not None and (end.framed or self._opened):
                    return self._frame_done(end, ev, now_ms)
                r.errors.append(ev)
        return action

    def _timeout(self, now_ms):
        r = self.result
        phase = self._phase
        if phase == _P_DRAIN:
            return self._sign_on(now_ms)
        if phase == _P_DATA and not self._opened and self._line != INITIAL_BAUD \
                and r.mode == "C" and self.fallback and not self._zero:
            # Nothing readable at the meter's own offer: back to 300 and sign on
            # again proposing '0' (docs/iec62056-21.md §3, aquaticus).
            r.fallback = True
            self._zero = True
            self._phase = _P_BACK
            self._line = INITIAL_BAUD
            r.baud = INITIAL_BAUD
            return SetLine(INITIAL_BAUD, self.framing)
        action = self._on_events(self._reader.finish(), now_ms)
        if action is not None and self._phase == _P_DONE:
            return action
        if phase == _P_SIGN_ON and r.identification is None and self._tries < self.retries:
            self._tries += 1
            self._phase = _P_RETRY
            return Sleep(now_ms + self.retry_delay_ms)
        if phase == _P_DATA and r.identification is not None:
            r.errors.append(Truncated("no data"))
        return self._done()

    def _frame_done(self, end, err, now_ms):
        r = self.result
        r.check = end.check
        r.bcc_ok = end.ok
        r.readout_ms = now_ms - self._t_req
        if err is not None:
            r.errors.append(err)
            r.outcome = "garbled"
        else:
            r.outcome = "ok"
        return self._done()

    def _done(self):
        r = self.result
        if r.outcome is None:
            if r.identification is not None or r.datasets:
                r.outcome = "garbled"
            elif r.echo_seen:
                # Only our own light came back: asleep (wake it) or locked out.
                r.outcome = "asleep"
            elif r.bytes_received:
                r.outcome = "garbled"
            else:
                r.outcome = "no_echo"
        self._phase = _P_DONE
        return Done(r)
