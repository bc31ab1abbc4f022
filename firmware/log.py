"""The reader's log: printed to the console and kept in a short ring for the page.

Never pass a secret: configuration is logged only through config.redacted().
"""

import time

_LINES = 30
_ring: list = []


def _emit(level, where, args):
    line = "%d %s %s: %s" % (time.time(), level, where, " ".join(str(a) for a in args))
    print(line)
    _ring.append(line)
    if len(_ring) > _LINES:
        _ring.pop(0)


def info(where, *args):
    _emit("I", where, args)


def warn(where, *args):
    _emit("W", where, args)


def error(where, *args):
    _emit("E", where, args)


def recent():
    return list(_ring)
