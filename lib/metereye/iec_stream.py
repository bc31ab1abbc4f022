"""IEC 62056-21 and DSMR P1: the stream reader. Bytes from the optical head
in, events out (iec_message.py), in bounded memory. Sans-I/O."""

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
from metereye.iec_ident import parse_identification
from metereye.iec_message import NAK, Ack, Command, DataSet, End, Request

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


def _ended(err, end):
    # The frame's end travels with the error, like KMP's partial frame.
    err.end = end
    return err


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
