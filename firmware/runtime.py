"""What any part of the reader may ask about the reader itself: its version,
which boot this is, how long it has run, the time; and forget(), which drops
modules needed only for a moment.

The parts import this module, never app.py: app.py composes the parts, so
imports run one way (docs/design.md).
"""

import gc
import sys
import time

import flashfile
import hw

VERSION = "0.1.0"
BOOTS = "boots"         # on flash: how many times the reader has started
# What reading the configuration imports and the running reader does not need:
# ~7 KB of heap, dropped after boot and after each answer of /api/config.
BOOT_ONLY = ("settings", "metereye.config", "metereye.url", "metereye.protocols")

boot = 0                # this boot's number; 0 until start()
_started_ms = time.ticks_ms()   # start() sets it again, when the reader starts


def start():
    """Count this boot, once per power-on or reset (a new configuration applied
    in the same process is not a boot). Returns the boot's number."""
    global boot, _started_ms
    if boot:
        return boot
    _started_ms = time.ticks_ms()
    try:
        with flashfile.open_latest(BOOTS) as f:
            boot = int(f.read() or 0) + 1
    except (OSError, ValueError):
        boot = 1
    flashfile.write(BOOTS, str(boot))
    return boot


def uptime_s():
    return time.ticks_diff(time.ticks_ms(), _started_ms) // 1000


def clock():
    """Unix seconds once the clock is set; seconds since boot before."""
    return hw.unix_time() if hw.clock_set() else uptime_s()


def forget(*names):
    """Drop modules needed only for a moment (at boot, for one request), so
    their code leaves the heap (docs/style.md R13)."""
    for name in names:
        sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:      # the package holds its submodules as attributes
            try:
                delattr(sys.modules[parent], child)
            except (AttributeError, KeyError):   # MicroPython raises KeyError here
                pass
    gc.collect()
