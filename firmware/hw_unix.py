"""The unix-port side of the hardware seam: the firmware runs on a PC.

The IR UART is a pty or a TCP connection to `metereye simulate`; the wake
output writes the simulator's magnet file; the button and LED are files in
the working folder (the board's flash); WiFi and NTP have nothing to do.
On the unix port `machine` has no UART; a pty opened with open()
and put in raw mode with VMIN=VTIME=0 works with select.poll, as do sockets.
"""

import gc
import os
import socket
import sys
import time

import asyncio
import termios

PLATFORM = "unix"
# (level, option) that turns Nagle's algorithm off: Linux's numbers, which
# MicroPython's unix socket module does not name.
TCP_NODELAY = (6, 1)
# Linux CBAUD codes; MicroPython's termios names only 9600 and up,
# but writes these codes as given.
_SPEED = {300: 7, 600: 8, 1200: 9, 2400: 11, 4800: 12, 9600: 13, 19200: 14, 38400: 15,
          57600: 4097, 115200: 4098}
_CBAUD = 0o10017
_VMIN = 6       # c_cc indexes on Linux; MicroPython's termios does not name them
_VTIME = 5


class Uart:
    """One optical head's line: non-blocking read(), write(), configure()."""

    def __init__(self, spec):
        self.spec = spec
        self._file = None
        self._sock = None
        if spec.get("port", "").startswith("tcp:"):
            _, host, port = spec["port"].split(":")
            s = socket.socket()
            s.connect(socket.getaddrinfo(host, int(port))[0][-1])
            s.setblocking(False)
            self._sock = s
        else:
            self._file = open(spec["port"], "r+b")
            fd = self._file.fileno()
            a = termios.tcgetattr(fd)
            a[0] = 0                        # iflag: no CR/LF translation, no flow control
            a[1] = 0                        # oflag: raw output
            a[3] = 0                        # lflag: no echo, no canonical mode
            a[6][_VMIN] = 0                 # reads return at once with what is there
            a[6][_VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, a)
        self.baud = None
        self.framing = None

    def configure(self, baud, framing):
        """Speed and framing. A pty keeps the speed but drops parity and 7 bits
        (docs/decisions.md §15): reads are masked to 7 bits where the framing says so."""
        if (baud, framing) == (self.baud, self.framing):
            return
        self.baud, self.framing = baud, framing
        if self._file is None:
            return
        fd = self._file.fileno()
        a = termios.tcgetattr(fd)
        code = _SPEED[baud]
        a[2] = (a[2] & ~_CBAUD) | code
        a[4] = a[5] = code
        try:
            termios.tcsetattr(fd, termios.TCSANOW, a)
        except OSError as e:
            if e.args[0] != 22:    # EINVAL: a pty refusing what it cannot hold
                raise

    def write(self, data):
        if self._sock is not None:
            view = memoryview(data)
            while view:
                try:
                    n = self._sock.send(view)
                    view = view[n:]
                except OSError as e:
                    if e.args[0] != 11:
                        raise
                    time.sleep_ms(2)
        else:
            self._file.write(data)

    async def drain(self):
        """Until the bytes have left the wire: a pty or socket takes them at once."""
        await asyncio.sleep_ms(0)

    def read(self):
        """Whatever has arrived, or None."""
        try:
            data = self._sock.recv(256) if self._sock is not None else self._file.read(256)
        except OSError as e:
            if e.args[0] == 11:
                return None
            raise
        if not data:
            return None
        if self.framing and self.framing[0] == "7":
            data = bytes(b & 0x7F for b in data)
        return data

    def close(self):
        if self._sock is not None:
            self._sock.close()
        if self._file is not None:
            self._file.close()


class Wake:
    """The wake coil: on the unix port it moves the simulator's magnet."""

    def __init__(self, spec):
        self.path = spec["file"]
        self.pulse_ms = spec.get("pulse_ms", 300)
        self.pulses = 0

    def _set(self, on):
        with open(self.path, "w") as f:
            f.write("1" if on else "0")

    async def pulse(self):
        self._set(False)
        await asyncio.sleep_ms(60)
        self._set(True)
        await asyncio.sleep_ms(self.pulse_ms)
        self._set(False)
        self.pulses += 1


class Led:
    def __init__(self):
        self.on = False

    def set(self, on):
        self.on = on


def button_held():
    """The safe-boot escape: a file named SAFE in the flash folder stands for a held button."""
    try:
        os.stat("SAFE")
        return True
    except OSError:
        return False


class Watchdog:
    """No hardware watchdog on a PC: the runner restarts a process that exits."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.fed = 0

    def feed(self):
        self.fed += 1


async def wifi_connect(cfg, log):
    return "127.0.0.1"


def wifi_rssi():
    return None


def wifi_connected():
    return True


# METEREYE_CLOCK_AFTER_S=N plays a board whose NTP answers only N seconds
# after boot (the stand-in for a WiFi that comes late). Stand-in only.
_CLOCK_AFTER_MS = int(float(os.getenv("METEREYE_CLOCK_AFTER_S") or 0) * 1000)
_BOOT_MS = time.ticks_ms()


def clock_set():
    """The PC's clock is right from the start (unless told to play a late NTP)."""
    return time.ticks_diff(time.ticks_ms(), _BOOT_MS) >= _CLOCK_AFTER_MS


async def sync_clock(log):
    return True


# METEREYE_CLOCK_SCALE=N runs the reader's wall clock N times faster, so a
# test or benchmark sees a day of its schedule in minutes. Stand-in only.
_SCALE = int(os.getenv("METEREYE_CLOCK_SCALE") or 1)
_T0 = time.time()


def unix_time():
    if _SCALE == 1:
        return int(time.time())
    return int(_T0 + (time.time() - _T0) * _SCALE)


def free_heap():
    return gc.mem_free()


def reset(reason):
    """A crash restarts rather than hangs: the process ends; whoever runs it restarts it."""
    print("metereye: restarting:", reason)
    sys.exit(3)


def unique_id():
    try:
        with open("/etc/machine-id") as f:
            return f.read(6)
    except OSError:
        return "000000"


def open_uart(spec):
    return Uart(spec)


def open_wake(spec):
    return Wake(spec) if spec and "file" in spec else None


# --- the setup access point (portal.py) and the servers' address -------------
# The stand-in's network is the loopback. Opening the "access point" writes
# ap.json in the flash folder (its name and security, never its password), so
# a test sees setup begin and end; the portal listens on 127.0.0.1.
LISTEN_HOST = "127.0.0.1"
PORTAL_PORT = int(os.getenv("METEREYE_PORTAL_PORT") or 8080)
# The captive portal's DNS answers here when set (port 53 needs root on a PC).
PORTAL_DNS_PORT = int(os.getenv("METEREYE_PORTAL_DNS_PORT") or 0)
AP_STATE = "ap.json"


def ap_open(ssid, password):
    """Open the reader's own WPA2 access point; the address it serves on."""
    with open(AP_STATE, "w") as f:
        f.write('{"ssid": "%s", "security": "WPA2-PSK", "address": "127.0.0.1"}' % ssid)
    return "127.0.0.1"


def ap_close():
    try:
        os.remove(AP_STATE)
    except OSError:
        pass
