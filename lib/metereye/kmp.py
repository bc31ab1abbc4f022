"""Kamstrup Meter Protocol: frames, byte stuffing, CRC, register values. Sans-I/O.

Layers follow the Kamstrup document as docs/kmp.md describes it:
  physical   start byte, stuffed body, stop byte (0x80 … 0x0D to the meter,
             0x40 … 0x0D from it; a lone 0x06 acknowledges)
  data link  address, CID, data, CRC-16/XMODEM big-endian over address…data
  application GetType / GetSerialNo / GetRegister and their answers

`KmpReader` turns bytes from the optical head into events (Frame, Ack or a
FrameError instance) and never raises on peer data: a garbled echo must not
cost the good answer behind it. `KmpSession` reads a set of registers and tells
its driver what to do (send, wait, done), doing no I/O itself.
"""

from metereye.actions import Done, Receive, Send, Sleep, wire_ms
from metereye.compat import const
from metereye.crc import crc16_xmodem
from metereye.decimal import format_decimal
from metereye.errors import (
    CrcMismatch,
    FrameError,
    FrameTooLong,
    NotAFrame,
    StuffingError,
    Truncated,
    UnexpectedReply,
)
from metereye.guard import check_kmp
from metereye.units import kmp_display, kmp_unit

_START_TO_METER = const(0x80)
_START_FROM_METER = const(0x40)
_STOP = const(0x0D)
_ACK = const(0x06)
_ESC = const(0x1B)

GET_TYPE = const(0x01)
GET_SERIAL = const(0x02)
GET_REGISTER = const(0x10)

ADDRESS_METER = const(0x3F)
# The Kamstrup document allows 1..8 registers in one GetRegister (docs/kmp.md §5).
MAX_REGISTERS_PER_REQUEST = const(8)
# The longest answer we expect is 8 registers of up to 12 bytes (ASCII type
# string) plus framing: about 150 bytes. Log reads (0xA0…) are larger; 512
# holds them and bounds what a stream of noise can make us keep.
MAX_FRAME = const(512)

LINE_BAUD = const(1200)
# 8N2: every known working reader sends 2 stop bits (docs/kmp.md §1).
LINE_FRAMING = "8N2"

_ESCAPED = (0x06, 0x0D, 0x1B, 0x40, 0x80)


# --- physical layer ---------------------------------------------------------

def stuff(body):
    """Escape every reserved byte of `body` as 0x1B, byte ^ 0xFF (KMP doc 3.1)."""
    out = bytearray()
    for b in body:
        if b in _ESCAPED:
            out.append(_ESC)
            out.append(b ^ 0xFF)
        else:
            out.append(b)
    return bytes(out)


def unstuff(wire):
    """The body with escapes undone; StuffingError for an illegal sequence."""
    out = bytearray()
    escaped = False
    for b in wire:
        if escaped:
            if b ^ 0xFF not in _ESCAPED:
                raise StuffingError(b)
            out.append(b ^ 0xFF)
            escaped = False
        elif b == _ESC:
            escaped = True
        elif b in _ESCAPED:
            raise StuffingError(b)
        else:
            out.append(b)
    if escaped:
        raise StuffingError(_ESC)
    return bytes(out)


# --- data link --------------------------------------------------------------

def _link_frame(start, address, cid, data):
    body = bytearray((address, cid))
    body.extend(data)
    crc = crc16_xmodem(body)
    body.append(crc >> 8)
    body.append(crc & 0xFF)
    return bytes((start,)) + stuff(body) + bytes((_STOP,))


def encode_request(cid, data=b"", address=ADDRESS_METER, allow_write=False):
    """A request frame as it goes on the wire. Refuses writing commands (guard)."""
    check_kmp(cid, allow_write)
    return _link_frame(_START_TO_METER, address, cid, data)


def encode_response(cid, data=b"", address=ADDRESS_METER):
    """A meter's answer frame as it goes on the wire (the simulator speaks this)."""
    return _link_frame(_START_FROM_METER, address, cid, data)


def get_type_request(address=ADDRESS_METER):
    return encode_request(GET_TYPE, b"", address)


def get_serial_request(address=ADDRESS_METER):
    return encode_request(GET_SERIAL, b"", address)


def get_register_request(register_ids, address=ADDRESS_METER):
    """One GetRegister frame for 1..8 register ids."""
    n = len(register_ids)
    if not 1 <= n <= MAX_REGISTERS_PER_REQUEST:
        raise ValueError(n)
    data = bytearray((n,))
    for rid in register_ids:
        data.append((rid >> 8) & 0xFF)
        data.append(rid & 0xFF)
    return encode_request(GET_REGISTER, data, address)


def batches(register_ids):
    """The ids split into as few GetRegister requests as the protocol allows."""
    ids = list(register_ids)
    return [ids[i:i + MAX_REGISTERS_PER_REQUEST] for i in range(0, len(ids), MAX_REGISTERS_PER_REQUEST)]


class Frame:
    """One KMP frame: direction, address, CID and its unstuffed data."""

    def __init__(self, direction, address, cid, data, crc_ok=True, warning=None):
        self.direction = direction      # "request" (0x80, to the meter) or "response"
        self.address = address
        self.cid = cid
        self.data = data
        self.crc_ok = crc_ok
        self.warning = warning

    def __repr__(self):
        return "Frame(%s, 0x%02X, cid=0x%02X, %d data bytes)" % (
            self.direction, self.address, self.cid, len(self.data))


class Ack:
    """A lone 0x06: the meter's answer to a command that returns no data."""

    direction = "ack"


ACK = Ack()


def _bad(err_class, frame, detail=None):
    # The partial frame travels with the error so a person can see what arrived.
    err = err_class(detail) if detail is not None else err_class()
    err.frame = frame
    return err


class KmpReader:
    """Bytes from the optical head in, events out: Frame, ACK or a FrameError.

    No I/O, no clock. Errors are returned as events and the reader keeps going.
    """

    def __init__(self):
        self._buf = bytearray(MAX_FRAME)   # unstuffed address..CRC, reused per frame
        self._n = -1                       # -1: hunting for a start byte
        self._start = 0
        self._escaped = False
        self._stuffing = None              # first stuffing fault seen in this frame

    def feed(self, data):
        """Consume bytes; return a list of events (the empty tuple when none)."""
        # The empty tuple: no list allocated for no event. Never appended to
        # (`events or []` comes first), so typed as the list it becomes.
        events: list = ()  # type: ignore[assignment]
        buf = self._buf
        for b in data:
            if b == _START_FROM_METER or b == _START_TO_METER:
                if self._n >= 0:
                    # Stuffing keeps start bytes out of a body, so a raw one means
                    # the frame we were in broke off and a new one begins.
                    events = events or []
                    events.append(_bad(StuffingError, self._partial(), b))
                self._open(b)
            elif self._n < 0:
                if b == _ACK:
                    events = events or []
                    events.append(ACK)
                # anything else before a start byte is stray light: skip it
            elif b == _STOP:
                events = events or []
                if self._escaped:
                    self._stuffing = self._stuffing or _ESC
                events.append(self._close(stopped=True))
            elif self._escaped:
                self._escaped = False
                if b ^ 0xFF in _ESCAPED:
                    self._store(b ^ 0xFF)
                else:
                    self._stuffing = self._stuffing or b
            elif b == _ESC:
                self._escaped = True
            elif b == _ACK:
                self._stuffing = self._stuffing or b
            else:
                self._store(b)
            if self._n >= MAX_FRAME:
                events = events or []
                events.append(_bad(FrameTooLong, None, MAX_FRAME))
                self._n = -1
        return events

    def finish(self):
        """End of input or timeout: the pending frame as an event, or None."""
        if self._n < 0:
            return None
        return self._close(stopped=False)

    @property
    def in_frame(self):
        """True while a frame has started and not yet ended."""
        return self._n >= 0

    def _open(self, start):
        self._n = 0
        self._start = start
        self._escaped = False
        self._stuffing = None

    def _store(self, b):
        self._buf[self._n] = b
        self._n += 1

    def _partial(self):
        n = self._n
        direction = "request" if self._start == _START_TO_METER else "response"
        address = self._buf[0] if n > 0 else None
        cid = self._buf[1] if n > 1 else None
        data = bytes(self._buf[2:n - 2]) if n > 4 else b""
        return Frame(direction, address, cid, data, crc_ok=False)

    def _close(self, stopped):
        n = self._n
        self._n = -1
        if self._stuffing is not None:
            return _bad(StuffingError, self._partial_n(n), self._stuffing)
        if n < 4:
            return _bad(Truncated, self._partial_n(n), n)
        if crc16_xmodem(self._buf, 0, n) != 0:
            if not stopped:
                return _bad(Truncated, self._partial_n(n), n)
            return _bad(CrcMismatch, self._partial_n(n))
        direction = "request" if self._start == _START_TO_METER else "response"
        return Frame(direction, self._buf[0], self._buf[1], bytes(self._buf[2:n - 2]),
                     warning=None if stopped else "no stop byte")

    def _partial_n(self, n):
        saved, self._n = self._n, n
        frame = self._partial()
        self._n = saved
        return frame


def read_frames(wire):
    """Every event in a captured byte string, the pending frame included."""
    reader = KmpReader()
    events = list(reader.feed(wire))
    last = reader.finish()
    if last is not None:
        events.append(last)
    return events


def decode_frames(wire):
    """Events of a capture that must begin with a frame (the `decode` command).

    NotAFrame when the first byte is neither a start byte nor a lone ACK, or
    when nothing in the capture forms a frame (research vectors' precedence).
    """
    if not wire or (wire[0] not in (_START_FROM_METER, _START_TO_METER)
                    and not (wire[0] == _ACK and len(wire) == 1)):
        raise NotAFrame(wire[0] if wire else None)
    events = read_frames(wire)
    if not events:
        raise NotAFrame(wire[0])
    # A raw start byte broke a frame; what follows it is that frame's tail
    # unless it checks out on its own: one broken frame, not two.
    out: list = []
    for ev in events:
        if (out and isinstance(ev, FrameError) and isinstance(out[-1], StuffingError)
                and out[-1].args and out[-1].args[0] in (_START_FROM_METER, _START_TO_METER)):
            continue
        out.append(ev)
    return out


# --- application layer ------------------------------------------------------

class Register:
    """One register of a GetRegister answer, its value kept exact."""

    def __init__(self, rid, unit_code, raw, exponent):
        self.id = rid
        self.unit_code = unit_code
        self.raw = raw              # signed integer mantissa
        self.exponent = exponent    # signed power of ten

    @property
    def value(self):
        """The value with exactly the meter's decimals ("8.541")."""
        return format_decimal(self.raw, self.exponent)

    @property
    def unit(self):
        """The unit string of the meter's unit byte, None when unknown."""
        return kmp_unit(self.unit_code)

    @property
    def display(self):
        """Date/time registers in their unit's pattern ("22:01:12"), else None."""
        return kmp_display(self.unit_code, self.value)

    def __repr__(self):
        return "Register(%d, %s %s)" % (self.id, self.value, self.unit)


class RegisterDataError(FrameError):
    """A frame with a good CRC whose register list does not add up."""

    token = "register_data"


def decode_registers(data):
    """The registers of a GetRegister answer's data, in frame order."""
    out = []
    i = 0
    n = len(data)
    while i < n:
        if i + 5 > n:
            raise RegisterDataError(i)
        rid = (data[i] << 8) | data[i + 1]
        unit_code = data[i + 2]
        length = data[i + 3]
        si = data[i + 4]
        i += 5
        if i + length > n:
            raise RegisterDataError(i)
        mantissa = 0
        for k in range(i, i + length):
            mantissa = (mantissa << 8) | data[k]
        i += length
        if si & 0x80:
            mantissa = -mantissa
        exponent = si & 0x3F
        if si & 0x40:
            exponent = -exponent
        out.append(Register(rid, unit_code, mantissa, exponent))
    return out


def encode_register(rid, unit_code, raw, exponent, length=4):
    """A register as it stands in a GetRegister answer (the simulator's side)."""
    magnitude = -raw if raw < 0 else raw
    si = (0x80 if raw < 0 else 0) | (0x40 if exponent < 0 else 0) | (abs(exponent) & 0x3F)
    out = bytearray((rid >> 8, rid & 0xFF, unit_code, length, si))
    for shift in range(8 * (length - 1), -1, -8):
        out.append((magnitude >> shift) & 0xFF)
    return bytes(out)


def decode_requested_ids(data):
    """The register ids a GetRegister request asks for."""
    if not data or len(data) != 1 + 2 * data[0]:
        raise RegisterDataError(len(data))
    return [(data[i] << 8) | data[i + 1] for i in range(1, len(data), 2)]


def decode_type(data):
    """(meter type "0x0004", software revision "F1") of a GetType answer."""
    if len(data) < 4:
        raise RegisterDataError(len(data))
    letter = data[2]
    revision = (chr(ord("A") + letter - 1) if 1 <= letter <= 26 else "") + str(data[3])
    return "0x%04X" % ((data[0] << 8) | data[1]), revision


def decode_serial(data):
    """The serial number of a GetSerialNo answer."""
    if len(data) < 4:
        raise RegisterDataError(len(data))
    return (data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]


# --- a reading session ------------------------------------------------------

class KmpResult:
    """What one session read, and what it saw of the line."""

    def __init__(self):
        self.registers = {}         # id -> Register, only what the meter answered
        self.serial = None
        self.meter_type = None
        self.software_revision = None
        self.requests = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.answers = 0            # requests the meter answered with a good frame
        self.silent = 0             # requests that got no answer at all, retry included
        self.garbled = 0            # requests whose last try brought only broken frames
        self.echo_seen = False
        self.errors = []            # FrameError instances, in order
        self.last_frame = None      # the last good answer's data, for diagnostics
        self.outcome = None         # "ok", "garbled", "asleep", "lockout", "no_echo"

    @property
    def complete(self):
        return self.outcome == "ok"


class KmpSession:
    """Reads identity and registers from one meter in as few requests as possible.

    The driver calls start(now_ms), then acts on what each call returns: Send
    (then sent(now_ms)), Receive (then received(data, now_ms) per chunk, and
    with b"" once the deadline passed), Sleep (then woke(now_ms)), until Done.
    One retry per request after `retry_delay_ms` when nothing or a broken frame
    came back (docs/kmp.md §8: never loop, never hammer).
    """

    # docs/kmp.md §1 (GUESS): first byte within 1 s of the request leaving.
    reply_timeout_ms = 1000
    retry_delay_ms = 1000
    retries = 1

    def __init__(self, register_ids, address=ADDRESS_METER, want_serial=True,
                 want_type=False, baud=LINE_BAUD, framing=LINE_FRAMING):
        self.address = address
        self.baud = baud
        self.framing = framing
        self.result = KmpResult()
        self._queue = []
        if want_serial:
            self._queue.append((GET_SERIAL, None))
        if want_type:
            self._queue.append((GET_TYPE, None))
        for batch in batches(register_ids):
            self._queue.append((GET_REGISTER, batch))
        self._current = None
        self._request = b""
        self._tries = 0
        self._reader = KmpReader()
        self._answered = False

    def wire_ms(self, nbytes):
        """Time `nbytes` take on the line at this session's speed."""
        return wire_ms(nbytes, self.baud, self.framing)

    def start(self, now_ms):
        return self._next(now_ms)

    def sent(self, now_ms):
        # The echo of our request and an answer of up to MAX_REGISTERS * ~12
        # bytes need wire time on top of the meter's reaction time.
        budget = self.reply_timeout_ms + self.wire_ms(len(self._request) + 120)
        return Receive(now_ms + budget)

    def received(self, data, now_ms):
        r = self.result
        if data:
            r.bytes_received += len(data)
            for event in self._reader.feed(data):
                action = self._on_event(event, now_ms)
                if action is not None:
                    return action
            return None        # keep receiving until the same deadline
        pending = self._reader.finish()
        if pending is not None:
            action = self._on_event(pending, now_ms)
            if action is not None:
                return action
        return self._retry_or_next(now_ms, None)

    def woke(self, now_ms):
        return self._send_current(now_ms)

    def _next(self, now_ms):
        if not self._queue:
            return self._finish()
        self._current = self._queue.pop(0)
        self._tries = 0
        return self._send_current(now_ms)

    def _send_current(self, now_ms):
        cid, ids = self._current
        if cid == GET_REGISTER:
            self._request = get_register_request(ids, self.address)
        else:
            self._request = encode_request(cid, b"", self.address)
        self._reader = KmpReader()
        self._answered = False
        self.result.requests += 1
        self.result.bytes_sent += len(self._request)
        return Send(self._request, self.baud, self.framing)

    def _retry_or_next(self, now_ms, error):
        r = self.result
        if error is not None:
            r.errors.append(error)
        if self._tries < self.retries:
            self._tries += 1
            return Sleep(now_ms + self.retry_delay_ms)
        if error is None:
            # A meter that stays silent through the retry is not asked the
            # rest: every request costs its battery and its patience.
            r.silent += 1
            self._queue = []
        else:
            r.garbled += 1
        return self._next(now_ms)

    def _on_event(self, event, now_ms):
        r = self.result
        frame = event if isinstance(event, Frame) else getattr(event, "frame", None)
        if frame is not None and frame.direction == "request":
            r.echo_seen = True      # our own light, clean or garbled: not an answer
            return None
        if isinstance(event, FrameError):
            return self._retry_or_next(now_ms, event)
        cid, ids = self._current
        if event is ACK or event.cid != cid or event.address != self.address:
            return self._retry_or_next(now_ms, UnexpectedReply(getattr(event, "cid", "ack")))
        try:
            if cid == GET_REGISTER:
                wanted = ids
                for reg in decode_registers(event.data):
                    # Matched by id, never by position: a meter leaves out what it
                    # does not know, and anything it adds unasked is dropped.
                    if reg.id in wanted:
                        r.registers[reg.id] = reg
            elif cid == GET_SERIAL:
                r.serial = decode_serial(event.data)
            elif cid == GET_TYPE:
                r.meter_type, r.software_revision = decode_type(event.data)
        except FrameError as err:
            return self._retry_or_next(now_ms, err)
        r.answers += 1
        r.last_frame = event
        return self._next(now_ms)

    def _finish(self):
        r = self.result
        if r.answers and not r.silent and not r.garbled:
            r.outcome = "ok"
        elif r.answers and r.silent:
            # It answered earlier in this session, then went quiet: the pattern
            # users report after hours of polling (docs/kmp.md §8).
            r.outcome = "lockout"
        elif r.answers or r.garbled:
            r.outcome = "garbled"
        elif r.echo_seen or r.bytes_received:
            # Our own light came back, the meter said nothing: asleep (magnet)
            # or locked out since an earlier session; the caller knows which.
            r.outcome = "asleep"
        else:
            r.outcome = "no_echo"
        return Done(r)
