"""IEC 62056-21 and DSMR P1: the stream reader. Bytes from the optical head in,
events (iec_message.py) out, in bounded memory. Sans-I/O.

The reader takes no Python step per byte. Each chunk is marked once (a 0
under every byte that may end a run: control characters, DEL, "(", ")", "!",
"/"; translate() does it in C on CPython, one plain loop on MicroPython), and
each state takes the run up to the next mark with one find(): an id or a value
goes into the field buffer in one copy, noise is skipped in one step. The
state then decides on the byte at the mark. tools/bench/iec_decode.py
measures it against the byte-by-byte reader it replaced and other parsers.

The states and what moves them (docs/iec62056-21.md §4 gives the grammar).
A run is the bytes up to the next mark; "control" is any other byte below
0x20 or DEL, dropped wherever text collects.

  HUNT     run: noise before a message, skipped.
           "/" -> SLASH1 (a frame opens; the P1 CRC starts here);  STX -> LINE
           (a block without identification);  SOH -> CMD;  ACK -> ACKMSG, back
           to HUNT;  NAK: the NAK event;  LF: a blank line (a LF right after a
           LF or the start, CRs aside) counts, and the second in a row is
           NoIdentification -> AFTER (the Ultraheat T550's answer).
  SLASH1   "?" -> REQUEST;  any other byte -> IDENT, which takes it.
  REQUEST  the address, byte by byte.  "!": the Request event -> HUNT;
           "/" -> SLASH1;  CR, LF or 32 characters: NotAFrame -> HUNT.
  IDENT    run: the identification text.  CR or LF: the Identification
           event -> AFTER, or NotAFrame -> HUNT;  "/" -> SLASH1 (that was no
           identification);  a full buffer: FrameTooLong -> HUNT.
  AFTER    STX -> LINE (the BCC starts after it);  ACK -> ACKMSG, back to
           AFTER (our ACK's echo);  "/" -> SLASH1;  SOH -> CMD;  text -> LINE,
           which takes it (a push: data lines without STX);  control: dropped.
  LINE     run: the id of a data set.  "(" -> GROUP;  CR, LF: the line ends,
           its data sets but the last come out;  "!" -> END;  ETX (in a block)
           -> BCC;  "/" -> SLASH1, the frame so far Truncated;  STX (before the
           block) -> LINE anew, what came before was noise;  ")": DataSetError.
  GROUP    run: a value and its unit.  ")" -> LINE, the group joins its set;
           "/" -> SLASH1, Truncated;  CR, LF -> LINE, DataSetError;  ETX ->
           LINE, which takes it, DataSetError;  "(": DataSetError, a new group.
  END      run: up to 8 characters of a P1 CRC.  CR, LF: the End event (CRC
           checked) -> HUNT, or -> TAIL in a block;  ETX (in a block) -> BCC;
           "/": as CR, then the "/" again.
  TAIL     the end line of a block is done.  ETX -> BCC;  "/" -> SLASH1, Truncated.
  BCC      the next byte is the block check: the End event -> HUNT.
  CMD      command letters, byte by byte.  STX: the Command event -> LINE;
           ETX: the Command event -> BCC;  anything else -> HUNT.
  ACKMSG   V Z Y, byte by byte.  CR, LF: the Ack event -> back;  any other
           byte: the Ack event -> back, which takes the byte.

SML (docs/iec62056-21.md §5) is looked for in the raw bytes before the mask to
7 bits; only a chunk with an ESC in it (or a sequence begun in the last one)
is walked byte by byte for it.
"""

from metereye.compat import const
from metereye.crc import bcc, crc16_arc
from metereye.errors import (
    BccMismatch,
    CrcMismatch,
    DataSetError,
    FrameTooLong,
    NotAFrame,
    NoIdentification,
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
_LPAR = const(0x28)
_RPAR = const(0x29)
_SLASH = const(0x2F)
_QUEST = const(0x3F)
_DEL = const(0x7F)

# Reader states (the table above).
_HUNT = const(0)
_SLASH1 = const(1)
_REQUEST = const(2)
_IDENT = const(3)
_AFTER = const(4)
_LINE = const(5)
_GROUP = const(6)
_END = const(7)
_TAIL = const(8)
_BCC = const(9)
_CMD = const(10)
_ACKMSG = const(11)

_CRC_DIGITS = const(8)      # characters kept after "!": 4 in P1, room for junk
_ADDRESS = const(32)        # the longest device address in a request [std]
_SHORT_RUN = const(4)       # runs up to this long are copied without a view

# The mark of every byte value (bit 7 masked): 0 where a run may end.
_MARKS = (b"\x00" * 32                  # control characters
          + b"\x01\x00" + b"\x01" * 6   # " " "!" ...
          + b"\x00\x00" + b"\x01" * 5   # "(" ")" ...
          + b"\x00" + b"\x01" * 79      # "/" ... "~"
          + b"\x00") * 2                # DEL; the same again with bit 7 set
_MARK = b"\x00"
_ESC_BYTE = b"\x1b"

try:
    _MASK = bytes.maketrans(bytes(range(128, 256)), bytes(range(128)))
except AttributeError:      # MicroPython: no translate(); _read loops instead
    _MASK = None


def _ended(err, end):
    # The frame's end travels with the error, like KMP's partial frame.
    err.end = end
    return err


class IecReader:
    """Bytes from the optical head in, events out. No I/O, no clock.

    Events: Request, Identification, Ack, NAK, Command, DataSet, End, and
    FrameError instances (BccMismatch, CrcMismatch, Truncated, NotIec,
    NoIdentification, FrameTooLong, DataSetError, NotAFrame) that the reader
    returns and goes on. A data set comes out once nothing can add to it: at
    the next id, or at the next line unless that line starts with "(" (DSMR
    2.2 continues the gas value there), or at the end line. Bytes are masked
    with 0x7F (an 8N1 read of a 7E1 line), after the raw bytes were checked
    for SML's escape sequence. How the chunks are cut never changes the events.
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
        self._marks = bytearray(0)      # MicroPython: reused, grown to the longest chunk
        self._m = None                  # the masked chunk being read
        self._mm = None                 # a view of it, made when a run is copied
        self._events = None
        self.reset()

    def reset(self):
        """Forget everything but the buffers (a new session on the same reader)."""
        self.skipped = 0        # bytes discarded before the first message
        self._messages = 0
        self._escs = 0          # SML escape: 1B 1B 1B 1B, then 01 01 01 01
        self._ones = 0
        self._sml = False
        self._skip = 0
        self._state = _HUNT
        self._line_began = True     # the last byte read, CR aside, ended a line
        self._blanks = 0            # blank lines in a row while hunting
        self._quiet = 0             # CR and LF while hunting, not yet counted as skipped
        self._sum_from = 0          # where in the chunk the checks have not yet run
        self._clear()

    @property
    def stx(self):
        """True once the current frame's data block opened with STX or SOH."""
        return self._framed

    def _clear(self):
        self._n = 0
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
        self._ret = _HUNT

    def feed(self, data):
        """Consume bytes; return the events they complete (the empty tuple when none)."""
        if data:
            if isinstance(data, memoryview):
                data = bytes(data)          # find() needs bytes
            if self._sml or self._skip or self._escs or _ESC_BYTE in data:
                self._feed_sml(data)
            else:
                self._read(data)
        events = self._events
        self._events = None
        return events or ()

    def finish(self):
        """End of input or timeout: what the open frame amounts to, as events."""
        self._noise(0)
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
        self._line_began = True
        self._clear()
        events = self._events
        self._events = None
        return events or ()

    # -- the chunk ------------------------------------------------------------

    def _feed_sml(self, data):
        # SML's escape is looked for byte by byte; the bytes around it go to
        # _read in runs, exactly as they would without the walk.
        start = 0
        for i in range(len(data)):
            b = data[i]
            if b == _ESC:
                if self._escs < 4:
                    self._escs += 1
                self._ones = 0
            elif self._escs == 4 and b == 0x01:
                self._ones += 1
                if self._ones == 4:
                    if start < i:
                        self._read(data[start:i])
                    start = i + 1
                    self._sml_begins()
                    continue
            elif self._escs == 4 and b == 0x1A and self._ones == 0 and self._sml:
                self._sml = False       # end escape; fill count and CRC follow
                self._skip = 3
                self._escs = 0
                start = i + 1
                continue
            else:
                self._escs = 0
                self._ones = 0
            if self._sml or self._skip:
                if self._skip and not self._sml:
                    self._skip -= 1
                if start < i:
                    self._read(data[start:i])
                start = i + 1
        if start < len(data):
            self._read(data[start:])

    def _read(self, raw):
        # Mask to 7 bits and mark the chunk: in C where translate() exists
        # (CPython), else in one loop over a marks buffer kept for the next chunk.
        if _MASK is not None:
            m = raw if raw.isascii() else raw.translate(_MASK)
            marks = raw.translate(_MARKS)
        else:
            m = raw if max(raw) <= _DEL else bytes(b & _DEL for b in raw)
            marks = self._marks
            if len(marks) < len(m):
                marks = self._marks = bytearray(len(m))
            for i in range(len(m)):
                marks[i] = _MARKS[m[i]]
        n = len(m)
        self._m = m
        self._sum_from = 0
        pos = 0
        states = self._STATES
        while pos < n:
            pos = states[self._state](self, m, marks, pos, n)
        self._sums(n)
        self._line_began = self._after_lf(m, n, self._line_began)
        self._m = self._mm = None

    @staticmethod
    def _after_lf(m, j, before):
        """Whether the last byte before m[j], CRs aside, was LF (`before`: the
        answer for the chunk's start)."""
        j -= 1
        while j >= 0 and m[j] == _CR:
            j -= 1
        return before if j < 0 else m[j] == _LF

    def _emit(self, ev):
        if self._events is None:
            self._events = []
        self._events.append(ev)

    def _sml_begins(self):
        self._escs = self._ones = 0
        self._noise(0)
        if not self._sml:
            self._sml = True
            self._messages += 1
            self._emit(NotIec())
        self._state = _HUNT
        self._clear()

    def _sums(self, end):
        # The P1 CRC and the BCC over the chunk's bytes from _sum_from to end.
        start = self._sum_from
        if start < end:
            if self._crc_on:
                self._crc = crc16_arc(self._m, start, end, self._crc)
            if self._bcc_on:
                self._bcc = bcc(self._m, start, end, self._bcc)
            self._sum_from = end

    def _take(self, start, end):
        """Copy chunk bytes start..end into the field; False when they do not all fit."""
        n = self._n
        k = end - start
        room = len(self._buf) - n
        fits = k <= room
        if not fits:
            k = room
        if k > _SHORT_RUN:
            self._mv[n:n + k] = self._view()[start:start + k]
        else:
            # Byte by byte: no view to allocate (a 300 Bd line gives a byte or two a read).
            buf = self._buf
            m = self._m
            for i in range(k):
                buf[n + i] = m[start + i]
        self._n = n + k
        if fits:
            return True
        if not self._overflow:
            self._overflow = True
            self._emit(FrameTooLong(len(self._buf)))
        return False

    def _view(self):
        """A view of the chunk, made once per chunk and only when needed."""
        mm = self._mm
        if mm is None:
            mm = self._mm = memoryview(self._m)
        return mm

    def _text(self, start, end, view=None):
        """The field's bytes start..end as text, or the bytes of `view` (the chunk's)."""
        return str((self._mv if view is None else view)[start:end], "ascii")

    # -- the states (the table in the module's docstring) -----------------------
    # Each takes the chunk m, its marks and the position; it reads a run and
    # the byte after it, or one byte, and returns where reading goes on.

    def _hunt(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            j = n
        if j > pos:
            self._noise(j - pos)
        if j == n:
            return n
        b = m[j]
        if b == _LF:
            if not self._after_lf(m, j, self._line_began):
                self._blanks = 0
                self._quiet += 1
            elif self._blanks:
                # The second blank line where an identification would come: the
                # Ultraheat T550's answer (docs/iec62056-21.md §6).
                self._quiet = 0
                self._blanks = 0
                self._clear()
                self._messages += 1
                self._emit(NoIdentification())
                self._state = _AFTER
            else:
                self._blanks = 1
                self._quiet += 1
            return j + 1
        if b == _CR:
            self._quiet += 1
            return j + 1
        self._noise(0)
        if b == _SLASH:
            self._open_frame(j)
        elif b == _STX:
            self._clear()
            self._messages += 1
            self._open_block(j)
        elif b == _SOH:
            self._open_command(j)
        elif b == _ACK:
            self._n = 0
            self._ret = _HUNT
            self._state = _ACKMSG
        elif b == _NAK:
            self._messages += 1
            self._emit(NAK)
        elif not self._messages:
            self.skipped += 1
        return j + 1

    def _slash1(self, m, marks, pos, n):
        if m[pos] == _QUEST:
            self._crc_on = False
            self._n = 0
            self._state = _REQUEST
            return pos + 1
        self._n = 0
        self._state = _IDENT
        return pos

    def _request(self, m, marks, pos, n):
        b = m[pos]
        if b == _BANG:
            self._messages += 1
            self._emit(Request(self._text(0, self._n)))
            self._state = _HUNT
        elif b == _SLASH:
            self._open_frame(pos)
        elif b == _CR or b == _LF or self._n >= _ADDRESS:
            self._emit(NotAFrame("request"))
            self._state = _HUNT
        elif b >= 0x20:
            self._buf[self._n] = b
            self._n += 1
        return pos + 1

    def _ident(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            j = n
        if j > pos:
            room = len(self._buf) - self._n
            if not self._take(pos, j):
                # The byte that did not fit ends it: what follows is noise.
                self._state = _HUNT
                self._crc_on = False
                return pos + room + 1
        if j == n:
            return n
        b = m[j]
        if b == _CR or b == _LF:
            ident = None if self._overflow else parse_identification(self._text(0, self._n))
            self._n = 0
            if ident is not None:
                self._messages += 1
                self._emit(ident)
                self._state = _AFTER
            else:
                if not self._overflow:
                    self._emit(NotAFrame("identification"))
                self._crc_on = False
                self._state = _HUNT
        elif b == _SLASH:
            self._open_frame(j)             # what came before was no identification
        elif b >= 0x20 and b != _DEL and not self._take(j, j + 1):
            self._state = _HUNT             # "(", ")", "!" are text like any other
            self._crc_on = False
        return j + 1

    def _after(self, m, marks, pos, n):
        b = m[pos]
        if marks[pos] or b == _LPAR or b == _RPAR or b == _BANG:
            self._line_start = True         # a push: data lines without STX
            self._state = _LINE
            return pos
        if b == _STX:
            self._open_block(pos)
        elif b == _ACK:
            self._n = 0
            self._ret = _AFTER
            self._state = _ACKMSG
        elif b == _SLASH:
            self._open_frame(pos)
        elif b == _SOH:
            self._open_command(pos)
        return pos + 1                      # blank lines, noise before STX

    def _line(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            j = n
        if j > pos:
            if self._n == 0:
                # A new id on a new line: the sets before it are complete.
                if self._line_start and self._sets:
                    self._let_out(len(self._sets))
                self._cur = None
                self._dropping = False
                self._overflow = False
                if j < n and m[j] == _LPAR and j - pos <= len(self._buf):
                    self._line_start = False
                    self._open_group(self._text(pos, j, self._view()))   # all in this chunk: no copy
                    return j + 1
            self._line_start = False
            if not self._take(pos, j):
                self._dropping = True
        if j == n:
            return n
        b = m[j]
        if b == _LPAR:
            self._open_group()
        elif b == _CR or b == _LF:
            self._line_end()
            if b == _CR and j + 1 < n and m[j + 1] == _LF:
                return j + 2                # its LF would end the line again: nothing more
        elif b == _BANG or (b == _ETX and self._framed):
            # The end line, or ETX closing a block without one (an answer to R1).
            if self._n:
                self._emit(DataSetError("text before !" if b == _BANG else "text before ETX"))
                self._n = 0
            self._let_out(len(self._sets))
            if b == _ETX:
                self._etx(j)
            else:
                self._sums(j + 1)           # "!" is the last byte the P1 CRC covers
                self._crc_on = False
                self._state = _END
        elif b == _SLASH:
            self._truncate()
            self._open_frame(j)
        elif b == _STX:
            if not self._framed:
                self._open_block(j)         # lines before STX were noise (a baud switch's garbage)
        elif b == _RPAR:
            self._emit(DataSetError(")"))
            self._n = 0
        return j + 1

    def _group(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            j = n
        if j > pos:
            if self._n == 0 and j < n and m[j] == _RPAR and j - pos <= len(self._buf):
                self._close_group(m, self._view(), pos, j)      # all in this chunk: no copy
                self._state = _LINE
                return j + 1
            self._take(pos, j)
        if j == n:
            return n
        b = m[j]
        if b == _RPAR:
            self._close_group(self._buf, self._mv, 0, self._n)
            self._state = _LINE
        elif b == _SLASH:
            # "/" is not allowed in a value (IEC 62056-21): a new frame begins,
            # this one was cut. Resync at once.
            self._truncate()
            self._open_frame(j)
        elif b == _CR or b == _LF:
            self._emit(DataSetError("line end in a value"))
            self._n = 0
            self._state = _LINE
            self._line_end()
        elif b == _ETX:
            self._emit(DataSetError("ETX in a value"))
            self._n = 0
            self._state = _LINE
            return j
        elif b == _LPAR:
            self._emit(DataSetError("( in a value"))
            self._n = 0                     # the broken group goes; a new one opens
            self._open_group()
        elif b == _BANG:
            self._take(j, j + 1)
        return j + 1

    def _end(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            j = n
        k = min(j - pos, _CRC_DIGITS - self._n)
        if k > 0:
            self._take(pos, pos + k)
        if j == n:
            return n
        b = m[j]
        if b == _CR or b == _LF:
            self._end_done()
        elif b == _ETX and self._framed:
            self._etx(j)
        elif b == _SLASH:
            self._end_done()
            return j
        elif b >= 0x20 and b != _DEL and self._n < _CRC_DIGITS:
            self._take(j, j + 1)
        return j + 1

    def _tail(self, m, marks, pos, n):
        j = marks.find(_MARK, pos, n)
        if j < 0:
            return n
        b = m[j]
        if b == _ETX:
            self._etx(j)
        elif b == _SLASH:
            self._truncate()
            self._open_frame(j)
        return j + 1

    def _bcc_byte(self, m, marks, pos, n):
        b = m[pos]
        self._messages += 1
        self._state = _HUNT
        if b == self._bcc:
            self._emit(End("bcc", True, True))
        else:
            self._emit(_ended(BccMismatch(self._bcc, b), End("bcc", False, True)))
        self._clear()
        return pos + 1

    def _cmd(self, m, marks, pos, n):
        b = m[pos]
        if b == _STX or b == _ETX:
            self._messages += 1
            self._emit(Command(self._text(0, self._n)))
            if b == _STX:
                self._open_block(pos)
            else:
                self._framed = True
                self._etx(pos)
        elif 0x20 < b < _DEL and self._n < 4:
            self._buf[self._n] = b
            self._n += 1
        else:
            self._clear()                   # a stray SOH: noise
            self._state = _HUNT
        return pos + 1

    def _ackmsg(self, m, marks, pos, n):
        b = m[pos]
        if b == _CR or b == _LF:
            self._ack_done()
            return pos + 1
        if 0x20 <= b < _DEL and self._n < 3:
            self._buf[self._n] = b
            self._n += 1
            return pos + 1
        self._ack_done()
        return pos

    # In the order of the state numbers.
    _STATES = (_hunt, _slash1, _request, _ident, _after, _line, _group, _end, _tail,
               _bcc_byte, _cmd, _ackmsg)

    # -- what the states do ---------------------------------------------------

    def _noise(self, count):
        # Text or a message while hunting: the line is not blank, and the line
        # ends held back (they might have been a blank identification) count now.
        self._blanks = 0
        if not self._messages:
            self.skipped += count + self._quiet
        self._quiet = 0

    def _open_frame(self, j):
        # "/" at j begins a frame: the P1 CRC runs from it through "!" (docs/iec62056-21.md §5).
        self._clear()
        self._crc_on = True
        self._sum_from = j
        self._state = _SLASH1

    def _open_block(self, j):
        # STX at j: the BCC runs from the next byte through ETX (docs/iec62056-21.md §4);
        # after SOH it already runs and covers the command and the STX. No P1 CRC
        # is checked in a block: it stops here.
        self._sums(j + 1)
        self._crc_on = False
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

    def _open_command(self, j):
        # SOH at j: the BCC runs from the next byte.
        self._clear()
        self._bcc_on = True
        self._sum_from = j + 1
        self._state = _CMD

    def _ack_done(self):
        buf = self._buf
        if self._n == 3:
            self._emit(Ack(chr(buf[0]), chr(buf[1]), chr(buf[2])))
        else:
            self._emit(Ack())
        self._messages += 1
        self._n = 0
        self._state = self._ret

    def _open_group(self, obis=None):
        if obis is not None:
            self._new_set(obis)
        elif self._n or self._dropping:
            if self._dropping:
                self._cur = None
            else:
                self._new_set(self._text(0, self._n))
        elif self._cur is None:
            self._new_set("")       # "(…)" with no id: a P0 operand, or no set to continue
        self._line_start = False
        self._n = 0
        self._overflow = False
        self._state = _GROUP

    def _new_set(self, obis):
        if len(self._sets) >= self.MAX_LINE_SETS:
            self._let_out(len(self._sets))
        ds = DataSet(obis, [])
        self._sets.append(ds)
        self._cur = ds
        self._data = True

    def _close_group(self, data, view, start, end):
        # The group's text is data[start:end], `view` a view of data: the field
        # buffer, or the chunk when the whole group lies in it.
        cur = self._cur
        self._n = 0
        if self._overflow or cur is None:
            return
        values = cur.values
        if len(values) >= self.MAX_GROUPS:
            self._emit(FrameTooLong(self.MAX_GROUPS))
            self._dropping = True       # the set's further groups go without a word
            return
        star = data.find(b"*", start, end)
        parts: "list | None" = None
        if star >= 0 and data.find(b"&", star, end) >= 0:
            # "098.5*C&096.1*C": every part has its own unit, so they are two
            # values; "2022-05-19&19:41:17" or "0&1&0" stay one (docs/iec62056-21.md §4).
            parts = []
            part = start
            while True:
                stop = data.find(b"&", part, end)
                if stop < 0:
                    stop = end
                unit = data.find(b"*", part, stop)
                if unit < 0:
                    parts = None
                    break
                parts.append((self._text(part, unit, view), self._text(unit + 1, stop, view)))
                if stop == end:
                    break
                part = stop + 1
        if parts:
            values.extend(parts)
        elif star < 0:
            values.append((self._text(start, end, view), None))
        else:
            values.append((self._text(start, star, view), self._text(star + 1, end, view)))

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
            got = -1
            if n == 4:
                # Four hex digits, either case ("f2C9" occurs, docs/iec62056-21.md §5);
                # int() alone would also take " 1F2", "+1F2" or "0x1F".
                text = self._text(0, 4)
                for c in text:
                    if c not in "0123456789abcdefABCDEF":
                        break
                else:
                    got = int(text, 16)
            if got == self._crc:
                self._emit(End("crc", True, False))
            else:
                self._emit(_ended(CrcMismatch(self._crc, self._text(0, n)), End("crc", False, False)))
        self._clear()

    def _etx(self, j):
        self._sums(j + 1)           # ETX at j is the last byte the BCC covers
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
