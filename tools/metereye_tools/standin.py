"""A board on a PC: the unix MicroPython binary under socat, in a folder that
plays the board's flash. `metereye deploy` and mpremote drive it exactly as
they drive a board over USB.

    python -m metereye_tools.standin [BASE]     # prints the port; Ctrl-C stops it

- socat makes a pty, `BASE/tty`, which is the board's serial port. On its other
  end socat runs this module's board loop (`--board`). The loop starts
  MicroPython the way a board boots: boot.py, then main.py, then (when
  main.py ends) the REPL.
  MicroPython runs with the flash folder `BASE/flash` as its working folder
  and MICROPYPATH=.frozen:lib (docs/decisions.md §24).
- When MicroPython ends, the loop starts it again. It can end by Ctrl-D at the
  REPL (mpremote's soft reset), by sys.exit() (hw.reset), by a crash, or by a
  kill (a power cut). So the stand-in's reset is a restart of the process, and
  the pty stays open across it, like a USB serial adapter.
- The pty keeps ISIG on, so Ctrl-C reaches MicroPython as SIGINT and mpremote
  can interrupt a running app, as on a board. The loop itself ignores SIGINT.
- Everything the board prints is also appended to BASE/console.log. A board's
  UART drops output that nobody reads, and so does the loop, so a stand-in
  that nobody watches never blocks.
- The flash folder holds `.metereye-standin`. deploy refuses to write to a
  unix MicroPython without it (it writes to the host's own filesystem).
"""

import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MARKER = ".metereye-standin"

# What a board does at power-on: boot.py, then main.py, printing an error and
# going on if one raises. When main.py ends, a board enters its REPL: exit
# code TO_REPL asks the loop for it. sys.exit() (hw.reset) ends the process
# with any other code, and the loop boots again. (`micropython -i` cannot run
# this: after sys.exit() it enters the REPL instead of ending.)
TO_REPL = 100
BOOT = """import os, sys
def _run(f):
    try:
        os.stat(f)
    except OSError:
        return
    try:
        exec(open(f).read())
    except SystemExit:
        raise
    except BaseException as e:
        sys.print_exception(e)
_run('boot.py')
_run('main.py')
sys.exit(%d)
""" % TO_REPL


class StandInError(Exception):
    """The stand-in did not start; the message says what is missing."""


def socat_path():
    return shutil.which("socat")


class StandIn:
    """One stand-in board: `port` is its serial port, `flash` its flash folder."""

    def __init__(self, base=None, heap=None, env=None):
        self.base = os.path.abspath(base or tempfile.mkdtemp(prefix="metereye-standin-"))
        self.flash = os.path.join(self.base, "flash")
        self.port = os.path.join(self.base, "tty")
        self.console_path = os.path.join(self.base, "console.log")
        self.pid_path = os.path.join(self.base, "micropython.pid")
        self.heap = heap
        self.env = env or {}
        self.proc = None
        os.makedirs(self.flash, exist_ok=True)
        open(os.path.join(self.flash, MARKER), "a").close()

    def start(self, timeout_s=10.0):
        socat = socat_path()
        if socat is None:
            raise StandInError("socat is not installed (apt-get install socat; tools/test.sh does it as root)")
        loop = [sys.executable, "-m", "metereye_tools.standin", "--board", self.flash,
                "--console", self.console_path, "--pid-file", self.pid_path]
        if self.heap:
            loop += ["--heap", str(self.heap)]
        # The board's end keeps ISIG (Ctrl-C becomes SIGINT) but no output processing
        # (opost=0: mpremote needs the REPL's \r\n untouched) and no line editing.
        board_end = "EXEC:%s,pty,stderr,setsid,ctty,echo=0,opost=0,icanon=0" % " ".join(
            _socat_quote(a) for a in loop)
        env = dict(os.environ, **self.env)
        if os.path.islink(self.port):
            os.remove(self.port)            # left by a stand-in that was killed
        seen = len(self.console())
        self._socat_log = open(os.path.join(self.base, "socat.log"), "ab")
        self.proc = subprocess.Popen([socat, "PTY,link=%s,raw,echo=0" % self.port, board_end],
                                     env=env, stdout=self._socat_log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if os.path.exists(self.port) and "metereye stand-in: boot" in self.console()[seen:]:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise StandInError("the stand-in did not start (see %s)" % self.base)

    @staticmethod
    def _pid(path):
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def micropython_pid(self):
        return self._pid(self.pid_path)

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            return self.flash.encode() in cmdline or os.readlink("/proc/%d/cwd" % pid) == self.flash
        except OSError:
            return False

    def power_cut(self):
        """Kill MicroPython at once, as a power cut would; the loop boots it again."""
        pid = self.micropython_pid()
        if pid and self._ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def boots(self):
        return self.console().count("metereye stand-in: boot ")

    def wait_for(self, text, timeout_s=30.0, start=0):
        """Wait until the console, from offset `start`, holds `text`; the console."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            out = self.console()
            if text in out[start:]:
                return out
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %r on the stand-in's console:\n%s"
                             % (text, self.console()[-3000:]))

    def console(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()       # socat closes the pty: the loop gets SIGHUP and ends MicroPython
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Normally gone with socat (SIGHUP); make sure, by the ids they wrote,
        # if those still name our own processes (not a later one given the same id).
        for pid in (self._pid(self.pid_path + ".loop"), self.micropython_pid()):
            if pid and self._ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None:
            self._socat_log.close()
        self.proc = None

    def remove(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _socat_quote(arg):
    # socat splits EXEC's command line at spaces and treats ,:!" specially.
    for ch in " ,:!\"'\\":
        if ch in arg:
            raise StandInError("path not usable inside socat's EXEC: %r" % arg)
    return arg


# --- the board loop, on socat's far end ---------------------------------------

def board_loop(flash, console_path, pid_path, heap=None):
    child = None

    def end(signum, frame):
        if child is not None and child.poll() is None:
            child.kill()
        os._exit(0)

    signal.signal(signal.SIGINT, lambda s, f: None)     # Ctrl-C is for MicroPython, not for the loop
    signal.signal(signal.SIGHUP, end)
    signal.signal(signal.SIGTERM, end)
    with open(pid_path + ".loop", "w") as f:
        f.write(str(os.getpid()))
    tty_mode = termios.tcgetattr(0)
    # A separate, non-blocking handle on the pty for output: when nobody reads
    # the port, output is dropped instead of stalling the board (stdin shares
    # fd 0's file description with MicroPython, so fd 1 is left blocking).
    out_fd = os.open(os.ttyname(1), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    console = open(console_path, "ab", buffering=0)

    stalled = [False]       # nobody has read the port for a while: drop output at once

    def emit(data):
        console.write(data)
        view = memoryview(data)
        waited = 0.0
        while view:
            try:
                view = view[os.write(out_fd, view):]    # a full pty takes only part of it
                stalled[0] = False
                continue
            except OSError as e:
                if e.errno == errno.EIO:
                    return                              # nobody holds the port open
                if e.errno != errno.EAGAIN:
                    raise
            # The port is full. A reader (mpremote) empties it within moments, and
            # dropping the rest would cut a line it is reading; nobody reading for a
            # second: drop, as a board's UART does, so the board never stalls.
            if stalled[0] or waited >= 1.0:
                stalled[0] = True
                return
            select.select([], [out_fd], [], 0.05)
            waited += 0.05

    env = dict(os.environ, MICROPYPATH=".frozen:lib")
    heap_args = ["-X", "heapsize=" + str(heap)] if heap else []

    def run(args):
        nonlocal child
        termios.tcsetattr(0, termios.TCSANOW, tty_mode)     # a killed REPL leaves the pty raw
        child = subprocess.Popen([MICROPYTHON] + heap_args + args, cwd=flash, env=env, stdin=0,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with open(pid_path, "w") as f:
            f.write(str(child.pid))
        fd = child.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            emit(data)
        child.stdout.close()
        return child.wait()

    n = 0
    while True:
        n += 1
        emit(b"metereye stand-in: boot %d\r\n" % n)
        if run(["-c", BOOT]) == TO_REPL:
            run(["-i"])             # the REPL, until Ctrl-D (a soft reset) ends it
        time.sleep(0.1)


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m metereye_tools.standin",
                                description="a unix-MicroPython stand-in for a board, under socat")
    p.add_argument("base", nargs="?", help="folder for the stand-in (default: a new temporary one)")
    p.add_argument("--heap", help="MicroPython heap size, e.g. 128K")
    p.add_argument("--board", help=argparse.SUPPRESS)
    p.add_argument("--console", help=argparse.SUPPRESS)
    p.add_argument("--pid-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.board:
        board_loop(args.board, args.console, args.pid_file, args.heap)
        return 0
    board = StandIn(args.base, heap=args.heap)
    try:
        board.start()
    except StandInError as e:
        print("standin: %s" % e, file=sys.stderr)
        return 1
    print(board.port, flush=True)
    print("flash folder %s, console %s; Ctrl-C stops it" % (board.flash, board.console_path), flush=True)
    try:
        while board.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
