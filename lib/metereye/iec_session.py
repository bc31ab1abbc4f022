"""IEC 62056-21: the client session that reads one meter in mode A, B or C and
tells its driver what to do (the actions.py vocabulary). Sans-I/O. Pushed
telegrams (mode D, P1) are p1.py's."""

from metereye.actions import Done, Receive, Send, SetLine, Sleep, wire_ms
from metereye.compat import const
from metereye.errors import FrameError, NoIdentification, NotIec, Truncated
from metereye.iec_ident import FRAMING, INITIAL_BAUD, Identification, baud_char_for, mode_c_baud
from metereye.iec_message import Ack, DataSet, End, Request, ack, request
from metereye.iec_stream import IecReader

_CR = const(0x0D)


class IecResult:
    """What one session read, and what it saw of the line."""

    def __init__(self):
        self.identification = None
        self.blank_identification = False   # blank lines came where it goes (Ultraheat T550)
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
    Mode A: Send → Receive → Done. A meter that answers with blank lines where
    its identification goes (NoIdentification: the Ultraheat T550) is read in
    mode B at `blank_ident_baud`; without one the session reads on at 300 Bd.

    Quirks, each an argument: `wake` bytes before the request (Ultraheat's NUL
    pre-roll), `switch_delay_ms` after the ACK has left the wire (USB adapters,
    docs/iec62056-21.md §3), `fallback` to sign on again proposing '0' when the meter sends
    nothing readable at its own offer, `max_baud` (our UART and head), `keep`
    (OBIS ids to keep, as obis.base gives them; None keeps all), `blank_ident_baud`
    (the speed a meter without identification switches to; its profile knows it).
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
                 ident_only=False, blank_ident_baud=None):
        self.address = address
        self.blank_ident_baud = blank_ident_baud
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

    def _on_blank_ident(self, now_ms):
        r = self.result
        r.blank_identification = True
        r.ident_ms = now_ms - self._t_req
        if self.blank_ident_baud:
            r.mode = "B"
        if self.ident_only:
            r.outcome = "ok"
            return self._done()
        if not self.blank_ident_baud:
            return self._data(now_ms)
        # The T550 changes speed right after its blank lines, as a mode B meter
        # after its identification (docs/iec62056-21.md §6); the profile knows to what.
        self._new_baud = self.blank_ident_baud
        if self._new_baud != INITIAL_BAUD:
            return self._switch()
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
            elif isinstance(ev, NoIdentification):
                if self._phase == _P_SIGN_ON and action is None:
                    action = self._on_blank_ident(now_ms)
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
        if phase == _P_DATA and (r.identification is not None or r.blank_identification):
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
            if r.identification is not None or r.blank_identification or r.datasets:
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
