"""What every `metereye` command shares: exit statuses, the error a command
stops with, JSON output, opening a line with a message a person can act on,
progress on a terminal, and the advice for a meter that stays silent.

Every command module imports this one, and this one imports no command: the
import graph of metereye_tools has no cycle (tests/test_import_graph.py).
"""

import json
import os
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SILENT = 0, 1, 2, 3
EXIT_STOPPED = 130      # Ctrl-C: 128 + SIGINT, as a shell reports a process it interrupted

EXIT_HELP = """Exit status: 0 done; 1 a failed check, a garbled answer, no light back,
a wrong meter or a lost port; 2 bad input or usage; 3 the meter stayed silent
though our own light came back (asleep or locked out); 130 stopped by Ctrl-C"""

SILENT_ADVICE = {
    "asleep": "The meter did not answer, but our own light came back, so the head works. "
              "The meter's optical port is asleep or locked out: apply the magnet (or re-apply it; "
              "turn it 180° if it never worked), then try again. Reading too often drains the "
              "meter's budget: see the default schedule.",
    "lockout": "The meter answered, then went silent: a lock-out is suspected (meters ration their "
               "optical port after many requests). Wait, or re-apply the magnet, and read less often.",
    "no_echo": "Nothing came back at all, not even our own light: check the head's wiring and power, "
               "the port, and that the receiver is sensitive enough (metereye echo-test --port PORT).",
    "garbled": "Frames arrived but failed their checks: check the head's position (light from outside, "
               "a misaligned head) and the line settings.",
}


class CommandError(Exception):
    """A command stops here: the message says why and what to do, `status` is the exit status."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message)
        self.status = status


def print_json(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def byte_count(n):
    """"148,437 bytes": sizes in messages, exact."""
    return "%s bytes" % format(n, ",")


def status_of(outcome):
    """The exit status of a session's outcome."""
    if outcome == "ok":
        return EXIT_OK
    if outcome in ("asleep", "lockout"):
        return EXIT_SILENT
    return EXIT_FAILED


def is_device_path(port):
    """True for a path on this computer (/dev/ttyUSB0, a pty), False for a pyserial URL."""
    return "://" not in port and not port.upper().startswith("COM")


def missing_port(port):
    """The error for a port that does not exist, listing those that do."""
    from metereye_tools.serial_ports import summary
    return CommandError("%s does not exist. %s" % (port, summary()), EXIT_USAGE)


def open_line(port, baud, framing):
    """The line on `port`; CommandError saying what is wrong when it cannot be opened."""
    from metereye_tools.line import LineError, SerialLine
    if is_device_path(port) and not os.path.exists(port):
        raise missing_port(port)
    try:
        return SerialLine(port, baud, framing)
    except LineError as e:
        raise CommandError("%s (is another program, such as a serial monitor or mpremote, using "
                           "it? Do you have the right to open it?)" % e)


class Progress:
    """One status line on stderr, rewritten in place while a long command works:
    only on a terminal, so pipes, logs and `--json` readers see none of it."""

    min_interval_s = 0.2

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self.shown = False
        self._last = 0.0

    def show(self, text, force=True):
        """Rewrite the status line; with force=False at most every min_interval_s."""
        if not self.on:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s:
            return
        self._last = now
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self.shown = True

    def clear(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def receiving(self, what):
        """An on_bytes callback for run_session: the bytes received so far, for slow lines."""
        start = time.monotonic()
        count = [0]

        def on_bytes(direction, data):
            if direction == "rx":
                count[0] += len(data)
                self.show("%s: %d bytes received (%.0f s)" % (what, count[0], time.monotonic() - start),
                          force=False)
        return on_bytes if self.on else None
