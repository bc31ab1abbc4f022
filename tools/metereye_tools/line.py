"""The PC's side of the hardware seam: a serial line (device, pty or pyserial
URL) that runs lib/ sessions by carrying out their actions."""

import errno
import os
import time

import serial

from metereye.actions import Done, Receive, Send, SetLine, Sleep

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_BYTESIZE = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}
_STOPBITS = {1: serial.STOPBITS_ONE, 2: serial.STOPBITS_TWO}
try:
    from termios import error as _TermiosError     # pyserial lets some of these through
except ImportError:
    _TermiosError = OSError
# What a port that went away raises, from pyserial or the terminal layer below it.
_GONE = (serial.SerialException, OSError, _TermiosError)


class LineError(Exception):
    """The port could not be opened or configured."""


class LineLost(LineError):
    """The port went away while in use: a USB head pulled out, a pty whose other end closed."""

    def __init__(self, url, cause):
        super().__init__("lost %s (%s): was the head unplugged? Plug it in and run the command again"
                         % (url, cause))


class SerialLine:
    """One optical head on a port: `/dev/ttyUSB0`, a pty, `socket://h:p`, `rfc2217://…`."""

    def __init__(self, url, baud=1200, framing="8N2"):
        # A Linux pty holds neither 7 data bits nor parity: Linux forces CS8 and
        # clears PARENB (docs/decisions.md §15), and pyserial re-applies the whole setting on every
        # timeout change, which the pty then refuses (EINVAL). On a pty the line
        # stays 8 bits without parity at the asked speed and the protocol masks
        # bytes to 7 bits; a real port gets the framing as asked.
        self._pty = os.path.realpath(url).startswith("/dev/pts/")
        try:
            self.port = serial.serial_for_url(url, do_not_open=True, timeout=0)
            self._apply(baud, framing)
            self.port.open()
        except (serial.SerialException, OSError, ValueError) as e:
            raise LineError("cannot open %s: %s" % (url, e))
        self.url = url
        self.baud = baud
        self.framing = framing
        self.sent = 0
        self.received = 0

    def _apply(self, baud, framing):
        if self._pty and framing[0] == "7":
            framing = "8N" + framing[2]
        self.port.baudrate = baud
        self.port.bytesize = _BYTESIZE[int(framing[0])]
        self.port.parity = _PARITY[framing[1]]
        self.port.stopbits = _STOPBITS[int(framing[2])]

    def configure(self, baud, framing):
        """Change speed and framing; TX must have drained already."""
        if (baud, framing) == (self.baud, self.framing):
            return
        try:
            self._apply(baud, framing)
        except (serial.SerialException, OSError) as e:
            # A Linux pty cannot hold parity: re-applying the same speed with
            # only the parity changed fails with EINVAL there (docs/decisions.md §15).
            if getattr(e, "errno", None) != errno.EINVAL and "22" not in str(e):
                raise LineLost(self.url, e)
        except _TermiosError as e:
            raise LineLost(self.url, e)
        self.baud, self.framing = baud, framing

    def write(self, data):
        """Send and wait until the bytes have left (tcdrain on a real port)."""
        try:
            self.port.write(data)
            self.port.flush()
        except _GONE as e:
            raise LineLost(self.url, e)
        self.sent += len(data)

    def read(self, timeout_s):
        """Whatever arrives within timeout_s (b"" when nothing did)."""
        try:
            self.port.timeout = max(0.0, timeout_s)
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0
            rest = self.port.read(4096)
        except _GONE as e:
            raise LineLost(self.url, e)
        data = first + rest
        self.received += len(data)
        return data

    def reset_input(self):
        try:
            self.port.reset_input_buffer()
        except _GONE as e:
            raise LineLost(self.url, e)

    def close(self):
        try:
            self.port.close()
        except _GONE:
            pass            # a port that went away is closed already


def now_ms():
    return int(time.monotonic() * 1000)


def run_session(line, session, clock=now_ms, on_bytes=None):
    """Carry out a lib/ session's actions on `line` until it is done; its result.

    `on_bytes(direction, data)` sees every chunk sent ("tx") and received
    ("rx"), for logs and captures.
    """
    action = session.start(clock())
    while True:
        if isinstance(action, Done):
            return action.result
        if isinstance(action, Send):
            line.configure(action.baud, action.framing)
            line.write(action.data)
            if on_bytes:
                on_bytes("tx", action.data)
            action = session.sent(clock())
        elif isinstance(action, SetLine):
            line.configure(action.baud, action.framing)
            action = session.line_set(clock())
        elif isinstance(action, Sleep):
            wait = action.until_ms - clock()
            if wait > 0:
                time.sleep(wait / 1000)
            action = session.woke(clock())
        elif isinstance(action, Receive):
            deadline = action.deadline_ms
            nxt = None
            while nxt is None:
                remaining = deadline - clock()
                if remaining <= 0:
                    nxt = session.received(b"", clock())
                    break
                data = line.read(min(remaining, 100) / 1000)
                if data:
                    if on_bytes:
                        on_bytes("rx", data)
                    nxt = session.received(data, clock())
            action = nxt
        else:
            raise TypeError(action)
