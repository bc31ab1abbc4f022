"""The one module that knows which Python it runs on."""

try:
    from micropython import const
except ImportError:  # pragma: no cover - CPython: const() only marks intent
    # The stub's const is generic; a plain function cannot say so without `typing`.
    def const(value):  # type: ignore[misc]
        return value
