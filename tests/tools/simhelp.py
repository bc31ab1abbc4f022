"""Start `metereye simulate` as a real process for tests, and stop it after."""

import os
import signal
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
METEREYE = os.path.join(BIN, "metereye")


class Sim:
    def __init__(self, meter, *args, tcp=False):
        where = ["--tcp", "0"] if tcp else ["--pty"]
        self.proc = subprocess.Popen([METEREYE, "simulate", meter, *where, *args],
                                     stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline().strip()
        if not first:
            raise RuntimeError("simulator did not start")
        if tcp:
            self.port = "socket://" + first.split()[-1]
            self.tcp_port = int(first.rsplit(":", 1)[1])
        else:
            self.port = first

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def metereye(*args, timeout=120):
    """Run the console script; (exit status, stdout, stderr)."""
    run = subprocess.run([METEREYE, *args], capture_output=True, text=True, timeout=timeout)
    return run.returncode, run.stdout, run.stderr
