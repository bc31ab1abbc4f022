"""The reader firmware on the unix MicroPython port: a folder plays the board's
flash, `metereye simulate` plays the meter, a local broker plays the network."""

import json
import os
import signal
import subprocess
import sys

from metereye_tools.mpy import ROOT, compile_tree

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
DEPS = os.path.join(ROOT, "build", "deps")


def build_device_mpy(out=None):
    """lib/, firmware/ and the fetched dependencies compiled to .mpy; the folder."""
    out = out or os.path.join(ROOT, "build", "mpy", "device")
    compile_tree(os.path.join(ROOT, "lib"), os.path.join(out, "lib"))
    compile_tree(os.path.join(ROOT, "firmware"), os.path.join(out, "app"))
    if os.path.isdir(DEPS):
        compile_tree(DEPS, os.path.join(out, "lib"))
    return out


class Firmware:
    """One run of the firmware in `flash` (a folder), as a child process."""

    def __init__(self, flash, heap=None, mpy=False, log_path=None, env=None):
        self.flash = flash
        self.env = env or {}
        self.heap = heap
        self.mpy = mpy
        self.log_path = log_path or os.path.join(flash, "console.log")
        self.proc = None

    def write_config(self, cfg):
        with open(os.path.join(self.flash, "config.json"), "w") as f:
            json.dump(cfg, f)

    def command(self):
        cmd = [MICROPYTHON]
        if self.heap:
            cmd += ["-X", "heapsize=" + str(self.heap)]
        if self.mpy:
            out = build_device_mpy()
            path = [".frozen", os.path.join(out, "lib"), os.path.join(out, "app")]
            # main.py stays source on a board too (docs/decisions.md §25): only `import app` is run.
            cmd += ["-c", "import app; app.main()"]
        else:
            path = [".frozen", DEPS, os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")]
            cmd += [os.path.join(ROOT, "firmware", "main.py")]
        return cmd, ":".join(path)

    def start(self):
        cmd, path = self.command()
        env = dict(os.environ, MICROPYPATH=path, **self.env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.flash, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # Ctrl-C first: the firmware stops cleanly and prints its heap peak.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.proc is not None:
            self._log.close()
        self.proc = None

    def console(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()
