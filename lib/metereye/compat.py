"""The one module that knows which Python it runs on."""

try:
    from micropython import const
except ImportError:  # pragma: no cover - CPython: const() only marks intent
    def const(value):
        return value
