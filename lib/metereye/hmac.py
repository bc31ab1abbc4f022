"""HMAC-SHA256 (RFC 2104) over hashlib, because MicroPython has no hmac module.

It signs an update bundle's manifest on the PC and checks it on the reader. The
same code runs in both places, and the tests compare it with CPython's hmac.
"""

import hashlib

from metereye.compat import const

_BLOCK = const(64)      # SHA-256's block size in bytes: RFC 2104's B


class Hmac:
    """HMAC-SHA256 fed a piece at a time, for a message that is never whole in RAM."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()      # RFC 2104 §2: hash a key longer than B first
        inner = bytearray(_BLOCK)
        outer = bytearray(_BLOCK)
        # RFC 2104 §2: the key padded with zeros to B bytes, XORed with ipad (0x36) and opad (0x5C).
        for i in range(_BLOCK):
            k = key[i] if i < len(key) else 0
            inner[i] = k ^ 0x36
            outer[i] = k ^ 0x5C
        self._inner = hashlib.sha256(inner)
        self._outer = outer

    def update(self, data):
        self._inner.update(data)

    def digest(self):
        """The 32-byte MAC; call once (MicroPython's sha256 cannot go on after digest())."""
        h = hashlib.sha256(self._outer)
        h.update(self._inner.digest())
        return h.digest()


def digest(key, msg):
    """HMAC-SHA256 of msg under key, 32 bytes (CPython: hmac.digest(key, msg, "sha256"))."""
    h = Hmac(key)
    h.update(msg)
    return h.digest()


def compare_digest(a, b):
    """True when a == b. The time taken does not depend on where they differ,
    so an attacker cannot find a valid MAC one byte at a time."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0
