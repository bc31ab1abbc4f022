"""SML (Smart Message Language) telegrams pushed by German eHZ meters. Sans-I/O.

The transport (SML transport v1, docs/sml.md §2), all in 4-byte blocks:

    1B1B1B1B 01010101   start: escape, version 1
    messages…            1B1B1B1B inside them goes out twice
    00 × pad             up to a multiple of 4
    1B1B1B1B 1A pad C C  end: escape, 1A, the pad count, CRC-16/X-25 low byte first

The CRC runs from the first 1B through the pad count. Each message is a TLV
list of 6 (transactionId, groupNo, abortOnError, body, crc16, end 00) and
carries its own CRC over its bytes up to its CRC field (docs/sml.md §3-§4).

`SmlReader.feed(bytes)` returns events: a `Telegram` (every list entry of every
GetList response, with the meter's identity), or a FrameError instance that
the reader returns and goes on after: CrcMismatch, SevenBitLine (a 7-data-bit
read), SmlBytesLost, SmlMessageCrc, SmlEscapeError, SmlSyntaxError, Truncated,
FrameTooLong, IecNotSml (IEC 62056-21 text where SML was expected). An error
that followed a whole telegram carries what could be read of it as
`.telegram` (None when nothing could). Memory: one buffer of MAX_TELEGRAM
bytes, allocated once; a telegram's objects are allocated when it ends.
"""

from binascii import hexlify

from metereye.compat import const
from metereye.crc import crc16_kermit, crc16_x25
from metereye.decimal import format_decimal
from metereye.errors import (
    CrcMismatch,
    FrameTooLong,
    IecNotSml,
    SevenBitLine,
    SmlBytesLost,
    SmlEscapeError,
    SmlMessageCrc,
    SmlSyntaxError,
    Truncated,
)
from metereye.units import dlms_unit

_ESC = const(0x1B)
_END = const(0x1A)
_ONE = const(0x01)
_LF = const(0x0A)
_CR = const(0x0D)

# TL byte: bit 7 "another TL byte follows", bits 6-4 the type, bits 3-0 length.
_T_OCTETS = const(0x00)
_T_BOOL = const(0x40)
_T_INT = const(0x50)
_T_UINT = const(0x60)
_T_LIST = const(0x70)

# Message body tags read (docs/sml.md §4); others, the close response 0x0201
# among them, are skipped whole.
OPEN_RESPONSE = const(0x0101)
GET_LIST_RESPONSE = const(0x0701)

START = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01"
LINE_BAUD = const(9600)
FRAMING = "8N1"

# Reader states.
_HUNT = const(0)
_BODY = const(1)      # inside a telegram, between escapes
_ARG = const(2)       # the 4 bytes after an escape on the grid
_TAIL = const(3)      # an end mark off the grid: pad count and CRC to come

# Ids that name the meter (docs/sml.md §5).
_MANUFACTURER_IDS = ("129-129:199.130.3*255", "1-0:96.50.1*1")
_METER_IDS = ("1-0:96.1.0*255", "1-0:0.0.9*255")


class Entry:
    """One list entry: an OBIS id and its value, kept exact.

    `raw` is an int (value = raw × 10^scaler), bytes (an octet string), a bool,
    or None (a value SML structures as a list). `scaler` and `unit_code` are
    None when the meter left them out; `status` likewise. `width`: the bytes
    an integer came in; `corrected`: why raw is not what the bytes say by the
    spec (only "dzg_sign", docs/sml.md §7), else None.
    """

    width = None
    corrected = None

    def __init__(self, obis, raw, scaler, unit_code, status):
        self.obis = obis
        self.raw = raw
        self.scaler = scaler
        self.unit_code = unit_code
        self.status = status

    @property
    def is_number(self):
        return isinstance(self.raw, int) and not isinstance(self.raw, bool)

    @property
    def value(self):
        """An exact decimal for a number ("2043104.7", from 20431047 and −1),
        upper-case hex for an octet string, "true"/"false", or None."""
        raw = self.raw
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, int):
            return format_decimal(raw, self.scaler or 0)
        if isinstance(raw, (bytes, bytearray)):
            return hex_upper(raw)
        return None

    @property
    def unit(self):
        """The DLMS unit's spelling ("Wh"), or None."""
        if self.unit_code is None:
            return None
        return dlms_unit(self.unit_code)

    @property
    def text(self):
        """An octet string of printable ASCII as text ("EMH", "1.02.007"), else None."""
        raw = self.raw
        if not isinstance(raw, (bytes, bytearray)) or not raw:
            return None
        for b in raw:
            if b < 0x20 or b > 0x7E:
                return None
        return str(raw, "ascii")

    def __repr__(self):
        return "Entry(%s %s %s)" % (self.obis, self.value, self.unit)


class Telegram:
    """One SML transmission: its entries, which CRC held, and who sent it.

    crc: "x25", or "kermit" when the meter uses CRC-16/KERMIT (reported, never
    silent); crc_ok: False only on a telegram carried by an error event.
    """

    def __init__(self):
        self.entries = []
        self.messages = []          # (tag, CRC algorithm that held, or None)
        self.server_id = None       # bytes: the open/GetList response's serverId
        self.crc = None
        self.crc_ok = True
        self.pad = 0
        self.length = 0             # bytes on the wire

    def find(self, obis):
        """The entry with this full OBIS id ("1-0:1.8.0*255"), or None."""
        for e in self.entries:
            if e.obis == obis:
                return e
        return None

    @property
    def manufacturer(self):
        """The meter's three-letter FLAG id ("EMH", "ISK", "HLY"), or None."""
        for obis in _MANUFACTURER_IDS:
            e = self.find(obis)
            if e is not None and e.text:
                return e.text
        return None

    @property
    def meter_id(self):
        """The meter's id (1-0:96.1.0 or the older 1-0:0.0.9) as hex, else the server id."""
        for obis in _METER_IDS:
            e = self.find(obis)
            if e is not None and isinstance(e.raw, (bytes, bytearray)):
                return hex_upper(e.raw)
        return hex_upper(self.server_id) if self.server_id else None

    @property
    def reduced(self):
        """True when the meter sends its reduced data set, as meters whose PIN
        was not entered do (docs/sml.md §6): energy in whole kWh (scaler ≥ +3)
        and no power entry at all. A hint for people, never an error."""
        energy = self.find("1-0:1.8.0*255")
        if energy is None or not energy.is_number or (energy.scaler or 0) < 3:
            return False
        for e in self.entries:
            if ".7." in e.obis and e.obis.startswith("1-0:"):
                return False
        return True

    def __repr__(self):
        return "Telegram(%d entries, crc %s%s)" % (
            len(self.entries), self.crc, "" if self.crc_ok else " FAILED")


# DZG DVS74 status word: bits 0-7 are 4, bit 8 "load", bit 11 "energy flows out",
# bits 21-31 zero (DZG's DVS74 manual, as mtdcr/pysml:sml/__init__.py applies it).
_DZG_STATUS_MASK = const(0xFFE009FF)
_DZG_STATUS_IMPORT = const(0x104)


def dzg_sign(t):
    """DZG DVS74 meters send some positive powers (327.68-655.35 W) as a negative
    Integer16 (volkszaehler/libsml#59, devZer0/libsml-testing#16). Where the
    meter's own status word says energy flows in, a negative 16.7.0 of up to 3
    bytes is read unsigned and marked `corrected`; newer DZG meters' real
    negatives (export, the direction bit set) stay as sent (docs/sml.md §7)."""
    if t.manufacturer != "DZG":
        return
    power = t.find("1-0:16.7.0*255")
    if power is None or not power.is_number or power.raw >= 0 or (power.width or 9) > 3:
        return
    for e in t.entries:
        if e.status is not None and e.status & _DZG_STATUS_MASK == _DZG_STATUS_IMPORT:
            power.raw += 1 << (8 * power.width)
            power.corrected = "dzg_sign"
            return


def hex_upper(data):
    """b"\x45\x4d" as "454D"."""
    return str(hexlify(data), "ascii").upper()


def obis_text(buf, i):
    """The id of the 6 bytes A B C D E F at buf[i] as "A-B:C.D.E*F"."""
    return "%d-%d:%d.%d.%d*%d" % (buf[i], buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5])


class _Bad(Exception):
    # The TLV parser's way out; the reader turns it into SmlSyntaxError.
    pass


# --- the streaming reader -----------------------------------------------------

class SmlReader:
    """Bytes from the optical head in, events out (see the module docstring).

    `crc`: "auto" (X-25, else CRC-16/KERMIT, and the telegram says which held),
    "x25" or "kermit" (only that one). `keep`: catalogue ids (obis.base form,
    "1.8.0") to keep; None keeps every entry. `dzg_fix`: correct the DZG DVS74's
    negative power where its own status word says energy flows in (docs/sml.md §7).
    """

    # The longest telegram kept, in bytes as sent. Real ones run 200-530 bytes
    # (tests/vectors/sml_vectors.json); longer ones come out as FrameTooLong
    # and the reader looks for the next start.
    MAX_TELEGRAM = 1024

    def __init__(self, crc="auto", keep=None, max_telegram=None, dzg_fix=True):
        if crc not in ("auto", "x25", "kermit"):
            raise ValueError(crc)
        self.crc = crc
        self.dzg_fix = dzg_fix
        self.keep = keep
        self._buf = bytearray(max_telegram or self.MAX_TELEGRAM)
        self._mv = memoryview(self._buf)
        self._events = None
        self.reset()

    def reset(self):
        """Forget any telegram in progress."""
        self._state = _HUNT
        self._n = 0
        self._run = 0           # consecutive 1B bytes
        self._ones = 0          # consecutive 01 bytes right after four 1B
        self._arg = 0           # bytes of an escape argument or end tail read
        self._literals = 0      # doubled escapes to undo
        self._lost = False      # an end mark off the grid was data: bytes went missing
        self._candidate = 0     # where a start off the grid was seen in this telegram
        self._iec_clear()

    def _iec_clear(self):
        self._iec_n = -1        # characters of an IEC identification line so far
        self._iec_parity = True
        self._iec_high = False

    def feed(self, data):
        """Consume bytes; return the events they complete (the empty tuple when none)."""
        buf = self._buf
        size = len(buf)
        find = getattr(data, "find", None)      # a memoryview has none: byte by byte
        i = 0
        end = len(data)
        while i < end:
            if find is not None and self._state == _BODY and self._run == 0 and self._ones == 0:
                # The common case: copy up to the next 1B in one go.
                j = find(b"\x1b", i)
                if j < 0:
                    j = end
                if j > i:
                    n = self._n
                    if n + (j - i) > size:
                        self._too_long()
                        i += 1
                        continue
                    buf[n:n + j - i] = data[i:j]
                    self._n = n + j - i
                    i = j
                    continue
            self._byte(data[i])
            i += 1
        events = self._events
        self._events = None
        return events or ()

    def finish(self):
        """End of input or a long silence: a telegram in progress is Truncated."""
        if self._state != _HUNT:
            self._cut(self._n)
        self.reset()
        events = self._events
        self._events = None
        return events or ()

    # -- internals --

    def _emit(self, ev):
        if self._events is None:
            self._events = []
        self._events.append(ev)

    def _start(self):
        self._buf[0:8] = START
        self._n = 8
        self._state = _BODY
        self._run = self._ones = self._arg = self._literals = 0
        self._lost = False
        self._candidate = 0
        self._iec_clear()

    def _too_long(self):
        self._emit(FrameTooLong(len(self._buf)))
        self._state = _HUNT
        self._run = self._ones = 0

    def _byte(self, b):
        st = self._state
        if st == _HUNT:
            self._hunt(b)
            return
        n = self._n
        if n >= len(self._buf):
            self._too_long()
            self._hunt(b)
            return
        self._buf[n] = b
        self._n = n + 1
        if st == _ARG:
            self._arg += 1
            if self._arg == 4:
                self._escape(n - 3)
            return
        if st == _TAIL:
            self._arg += 1
            if self._arg == 3:
                self._tentative_end(n)
            return
        if b == _ESC:
            self._run = 1 if self._ones else self._run + 1
            self._ones = 0
            # An escape is four 1B on the grid (blocks of 4 from the start).
            if self._run >= 4 and (n - 3) & 3 == 0:
                self._state = _ARG
                self._arg = 0
            return
        # Off the grid, 1B1B1B1B 1A or 1B1B1B1B 01010101 means bytes were lost
        # (libsml warns alike, volkszaehler/libsml:sml/src/sml_transport.c), or is
        # data that happens to look so (an octet string ending in 1B1B1B1B before
        # absent fields, 01 01 …). An end off the grid counts when its CRC holds;
        # a start off the grid counts at once only after such an end proved bytes
        # lost, else its place is kept for when the end shows (docs/sml.md §2).
        if b == _END and self._run >= 4:
            self._state = _TAIL
            self._arg = 0
        elif b == _ONE and (self._run >= 4 or self._ones):
            self._ones += 1
            if self._ones == 4:
                if self._lost:
                    self._emit(SmlBytesLost("a start inside a telegram, off its grid"))
                    self._start()
                    return
                self._candidate = n - 7
                self._ones = 0
        else:
            self._ones = 0
        self._run = 0

    def _tentative_end(self, n):
        # buf[n] is the last byte of an end mark off the grid.
        algorithm = self._check(n + 1)
        if algorithm is not None:
            self._close(algorithm)
            return
        start = self._candidate
        if start > 0:
            algorithm = self._check(n + 1, start)
            if algorithm is not None:
                # A telegram began off the grid of one that lost bytes: the
                # first is lost, the second is whole. Move it to the front.
                self._emit(SmlBytesLost("a start inside a telegram, off its grid"))
                size = n + 1 - start
                self._buf[0:size] = self._buf[start:n + 1]
                self._n = size
                self._literals = 1          # its escapes lie on its own grid: look for them
                self._close(algorithm)
                return
        self._lost = True
        self._state = _BODY
        self._run = self._ones = 0
        buf = self._buf
        tail = (buf[n - 2], buf[n - 1], buf[n])
        self._n = n - 2
        for b in tail:          # pad count and "CRC" were data after all
            self._byte(b)

    def _cut(self, n):
        # The telegram in progress ends without its end mark.
        self._emit(SmlBytesLost("the end mark was off its grid") if self._lost else Truncated(n))

    def _escape(self, at):
        buf = self._buf
        a = buf[at]
        if a == _ESC and buf[at + 1] == _ESC and buf[at + 2] == _ESC and buf[at + 3] == _ESC:
            self._literals += 1
            self._state = _BODY
            self._run = self._ones = 0
        elif a == _END:
            self._close(self._check(self._n))
        elif a == _ONE and buf[at + 1] == _ONE and buf[at + 2] == _ONE and buf[at + 3] == _ONE:
            self._cut(at - 4)                   # a new start before this one ended
            self._start()
        else:
            self._emit(SmlEscapeError(hex_upper(buf[at:at + 4])))
            self._state = _HUNT
            self._run = self._ones = 0

    def _hunt(self, b):
        if b == _ESC:
            self._run = 1 if self._ones else self._run + 1
            self._ones = 0
        elif b == _ONE and self._run >= 4:
            self._ones += 1
            if self._ones == 4:
                self._start()
                return
        else:
            self._run = 0
            self._ones = 0
        self._iec(b)

    def _iec(self, b):
        # An IEC 62056-21 identification line, "/XXXZ…" CR LF, read through a
        # 7-bit mask: an IEC meter on a line set up for SML (docs/sml.md §1).
        c = b & 0x7F
        n = self._iec_n
        if c == 0x2F:
            self._iec_n = 0
            self._iec_parity = True
            self._iec_high = False
        elif n < 0:
            return
        elif c == _CR or c == _LF:
            if n >= 5:
                self._emit(IecNotSml(self._iec_parity and self._iec_high))
            self._iec_n = -1
            return
        elif (n < 3 and not (0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A)) or c < 0x20 or c == 0x7F or n > 80:
            self._iec_n = -1
            return
        else:
            self._iec_n = n + 1
        if b & 0x80:
            self._iec_high = True
        ones = 0
        while b:
            ones += b & 1
            b >>= 1
        if ones & 1:
            self._iec_parity = False

    def _close(self, algorithm):
        buf = self._buf
        n = self._n
        self._state = _HUNT
        self._run = self._ones = 0
        end = n - 8                     # where the end mark began
        t = None
        err = None
        try:
            payload_end = self._unescape(end)
            t = self._parse(payload_end, algorithm is not None)
            t.pad = buf[n - 3]
            t.length = n
        except _Bad as e:
            if algorithm is not None:
                err = SmlSyntaxError(*e.args)
            t = None
        if algorithm is None:
            if not self._any_high(n):
                err = SevenBitLine()
            else:
                err = CrcMismatch(hex_upper(buf[n - 2:n]))
        elif t is not None:
            t.crc = algorithm
            for tag, used in t.messages:
                if used is None:
                    err = SmlMessageCrc("message 0x%04X" % tag)
                    break
                if used == "kermit":
                    t.crc = "kermit"
        if err is None:
            if self.dzg_fix:
                dzg_sign(t)
            self._emit(t)
            return
        if t is not None:
            t.crc_ok = False
        err.telegram = t
        self._emit(err)

    def _check(self, n, start=0):
        """Which CRC the trailer of buf[start:n] holds: "x25", "kermit", or None."""
        buf = self._buf
        lo_first = buf[n - 2] | (buf[n - 1] << 8)
        if self.crc != "kermit" and crc16_x25(buf, start, n - 2) == lo_first:
            return "x25"
        if self.crc != "x25":
            k = crc16_kermit(buf, start, n - 2)
            # libsml and SmlLib compare KERMIT high byte first; no published
            # KERMIT frame shows which (docs/sml.md §2): either order is taken.
            if k == lo_first or k == (buf[n - 2] << 8) | buf[n - 1]:
                return "kermit"
        return None

    def _any_high(self, n):
        for i in range(n):
            if self._buf[i] & 0x80:
                return True
        return False

    def _unescape(self, end):
        """Undo doubled escapes in buf[8:end] in place; the payload's new end."""
        if not self._literals:
            return end
        buf = self._buf
        src = dst = 8
        while src < end:
            if src + 8 <= end and buf[src] == _ESC and buf[src + 1] == _ESC and buf[src + 2] == _ESC \
                    and buf[src + 3] == _ESC and (src & 3) == 0:
                buf[dst:dst + 4] = b"\x1b\x1b\x1b\x1b"
                src += 8
                dst += 4
                continue
            buf[dst] = buf[src]
            src += 1
            dst += 1
        return dst

    # -- the TLV parser: walks buf by index, keeps only what a Telegram holds --

    def _head(self, i, end):
        """Read the TL field at i: sets _type and _size (data bytes, or list
        elements); returns where the data begins."""
        buf = self._buf
        if i >= end:
            raise _Bad("cut at byte %d" % i)
        b = buf[i]
        self._type = b & 0x70
        size = b & 0x0F
        k = i + 1
        while b & 0x80:
            if k >= end:
                raise _Bad("cut in a TL field at byte %d" % i)
            b = buf[k]
            if b & 0x70:
                raise _Bad("bad TL continuation at byte %d" % k)
            size = (size << 4) | (b & 0x0F)
            k += 1
        if self._type != _T_LIST:
            size -= k - i               # a scalar's length counts its TL bytes
            if size < 0 or k + size > end:
                raise _Bad("bad length at byte %d" % i)
        self._size = size
        return k

    def _skip(self, i, end):
        pending = 1
        while pending:
            i = self._head(i, end)
            pending -= 1
            if self._type == _T_LIST:
                pending += self._size
            else:
                i += self._size
        return i

    def _number(self, i, end, signed_ok=True):
        """(value, next index) of an integer element; the value is None for
        an absent optional field (01)."""
        k = self._head(i, end)
        t = self._type
        size = self._size
        if t == _T_OCTETS and size == 0:
            self._value = None
            return k
        if (t != _T_UINT and t != _T_INT) or size == 0 or size > 8 or (t == _T_INT and not signed_ok):
            raise _Bad("not an integer at byte %d" % i)
        buf = self._buf
        v = 0
        for j in range(k, k + size):
            v = (v << 8) | buf[j]
        if t == _T_INT and buf[k] & 0x80:
            v -= 1 << (8 * size)        # sign-extend from its own width
        self._value = v
        return k + size

    def _list(self, i, end, count=None):
        k = self._head(i, end)
        if self._type != _T_LIST or (count is not None and self._size != count):
            raise _Bad("expected a list%s at byte %d" % ("" if count is None else " of %d" % count, i))
        return k

    def _parse(self, end, strict):
        buf = self._buf
        t = Telegram()
        i = 8
        while i < end:
            if buf[i] == 0:
                # Padding (or a meter's stray zeros) up to the end mark.
                i += 1
                continue
            start = i
            i = self._list(i, end, 6)
            i = self._skip(i, end)              # transactionId
            i = self._skip(i, end)              # groupNo
            i = self._skip(i, end)              # abortOnError
            i = self._list(i, end, 2)           # messageBody
            i = self._number(i, end)
            tag = self._value
            if tag is None:
                raise _Bad("a message without a tag at byte %d" % start)
            if tag == GET_LIST_RESPONSE:
                i = self._get_list(i, end, t)
            elif tag == OPEN_RESPONSE:
                i = self._open(i, end, t)
            else:
                i = self._skip(i, end)
            crc_at = i
            i = self._number(i, end, signed_ok=False)
            field = self._value
            if field is None:
                raise _Bad("a message without a CRC at byte %d" % crc_at)
            if i >= end or buf[i] != 0:
                raise _Bad("no end of message at byte %d" % i)
            i += 1
            t.messages.append((tag, self._message_crc(start, crc_at, field)))
        return t

    def _message_crc(self, start, end, field):
        # The field is an Unsigned16 (or 8: a CRC below 256, mtdcr/pysml#3)
        # holding the X-25 value byte-swapped (docs/sml.md §2).
        buf = self._buf
        if self.crc != "kermit":
            x = crc16_x25(buf, start, end)
            if ((x & 0xFF) << 8 | x >> 8) == field:
                return "x25"
        if self.crc != "x25":
            k = crc16_kermit(buf, start, end)
            if k == field or ((k & 0xFF) << 8 | k >> 8) == field:
                return "kermit"
        return None

    def _open(self, i, end, t):
        i = self._list(i, end, 6)
        for _ in range(3):                      # codepage, clientId, reqFileId
            i = self._skip(i, end)
        i = self._octets(i, end)
        if self._value is not None:
            t.server_id = self._value
        i = self._skip(i, end)                  # refTime
        return self._skip(i, end)               # smlVersion

    def _octets(self, i, end):
        k = self._head(i, end)
        if self._type != _T_OCTETS:
            raise _Bad("not an octet string at byte %d" % i)
        self._value = bytes(self._buf[k:k + self._size]) if self._size else None
        return k + self._size

    def _get_list(self, i, end, t):
        i = self._list(i, end, 7)
        i = self._skip(i, end)                  # clientId
        i = self._octets(i, end)                # serverId
        if self._value is not None and t.server_id is None:
            t.server_id = self._value
        i = self._skip(i, end)                  # listName
        i = self._skip(i, end)                  # actSensorTime
        i = self._list(i, end)                  # valList
        for _ in range(self._size):
            i = self._entry(i, end, t)
        i = self._skip(i, end)                  # listSignature
        return self._skip(i, end)               # actGatewayTime

    def _entry(self, i, end, t):
        buf = self._buf
        i = self._list(i, end, 7)
        k = self._head(i, end)                  # objName: A B C D E F
        if self._type != _T_OCTETS or self._size != 6:
            raise _Bad("an OBIS id of %d bytes at byte %d" % (self._size, i))
        obis_at = k
        i = k + 6
        k = self._head(i, end)                  # status: optional, any unsigned
        status = None
        if self._type == _T_UINT and 0 < self._size <= 8:
            i = self._number(i, end)
            status = self._value
        else:
            i = self._skip(i, end)
        # valTime: an SML_Time choice, or Holley's bare Unsigned32
        # (volkszaehler/libsml#75): either way nothing we keep.
        i = self._skip(i, end)
        i = self._number(i, end, signed_ok=False)   # unit: Unsigned8
        unit = self._value
        i = self._number(i, end)                # scaler: Integer8
        scaler = self._value
        k = self._head(i, end)                  # value
        typ = self._type
        size = self._size
        width = None
        if typ == _T_INT or typ == _T_UINT:
            i = self._number(i, end)
            raw = self._value
            width = size
        elif typ == _T_OCTETS:
            raw = bytes(buf[k:k + size])
            i = k + size
        elif typ == _T_BOOL:
            if size != 1:
                raise _Bad("a boolean of %d bytes at byte %d" % (size, i))
            raw = buf[k] != 0
            i = k + 1
        else:
            raw = None
            i = self._skip(i, end)
        i = self._skip(i, end)                  # valueSignature
        if self.keep is None or self._wanted(obis_at):
            e = Entry(obis_text(buf, obis_at), raw, scaler, unit, status)
            if width is not None:
                e.width = width
            t.entries.append(e)
        return i

    def _wanted(self, at):
        # obis.base's form ("1.8.0": C.D.E, an E of 255 as 0) built from the id's
        # bytes, so an entry left out costs no text of its full id.
        buf = self._buf
        e = buf[at + 4]
        return "%d.%d.%d" % (buf[at + 2], buf[at + 3], 0 if e == 255 else e) in self.keep


# A PC decoding a capture has room for telegrams a reader would refuse.
PC_MAX_TELEGRAM = const(16384)


def decode(data, crc="auto", max_telegram=PC_MAX_TELEGRAM):
    """Every event of a capture, a telegram cut at its end included."""
    reader = SmlReader(crc, max_telegram=max_telegram)
    events = list(reader.feed(data))
    events.extend(reader.finish())
    return events


# --- listening session --------------------------------------------------------

class SmlResult:
    """What listening to an SML meter brought: the first good telegram, or why not."""

    def __init__(self, baud, framing):
        self.baud = baud
        self.framing = framing
        self.telegram = None        # the first telegram whose every CRC held
        self.errors = []            # FrameError events before it
        self.bytes_received = 0
        self.outcome = None         # "ok", "garbled" (bytes, no good telegram), "silent"


class SmlSession:
    """Listens at the meter's line (9600 8N1 by default) until one telegram
    passes its checks, or `timeout_ms` passes. Sans-I/O like p1.PushSession:
    SetLine, then Receive until Done. A broken telegram does not end it: the
    meter sends the next within seconds (docs/sml.md §1)."""

    def __init__(self, timeout_ms, baud=LINE_BAUD, framing=FRAMING, crc="auto", keep=None,
                 max_telegram=None):
        self.timeout_ms = timeout_ms
        self.result = SmlResult(baud, framing)
        self.reader = SmlReader(crc, keep, max_telegram)
        self._deadline = 0

    def start(self, now_ms):
        from metereye.actions import SetLine
        return SetLine(self.result.baud, self.result.framing)

    def line_set(self, now_ms):
        from metereye.actions import Receive
        self._deadline = now_ms + self.timeout_ms
        return Receive(self._deadline)

    def received(self, data, now_ms):
        r = self.result
        if not data:
            return self._done(self.reader.finish())
        r.bytes_received += len(data)
        for ev in self.reader.feed(data):
            if isinstance(ev, Telegram):
                r.telegram = ev
                r.outcome = "ok"
                return self._finish()
            r.errors.append(ev)
        return None

    def _done(self, events):
        r = self.result
        r.errors.extend(events)
        if r.outcome is None:
            r.outcome = "garbled" if r.bytes_received else "silent"
        return self._finish()

    def _finish(self):
        from metereye.actions import Done
        return Done(self.result)
