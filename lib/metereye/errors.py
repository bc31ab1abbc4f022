"""Every error lib/ raises (or returns as an event) on purpose.

Errors carry raw values; the message is built only in __str__, where it is
logged. `token` is the short name the JSON output and the vectors use.
"""


class MeterEyeError(Exception):
    """Base of every error lib/ raises on purpose."""

    token = "error"


class FrameError(MeterEyeError):
    """Bytes from the meter do not form a valid frame."""

    token = "frame"


class NotAFrame(FrameError):
    """The bytes do not start like any frame of the protocol."""

    token = "not_a_frame"


class StuffingError(FrameError):
    """An illegal escape sequence, or a raw reserved byte inside a frame body."""

    token = "stuffing"


class Truncated(FrameError):
    """The frame ended (or the line went quiet) before it was complete."""

    token = "truncated"


class CrcMismatch(FrameError):
    """The frame's check sum does not match its bytes."""

    token = "crc"


class BccMismatch(FrameError):
    """An IEC 62056-21 block check character does not match."""

    token = "bcc"


class FrameTooLong(FrameError):
    """More bytes than any valid frame holds: the buffer limit was hit."""

    token = "too_long"


class UnexpectedReply(FrameError):
    """A well-formed frame that does not answer the request that was sent."""

    token = "unexpected_reply"


class NotIec(FrameError):
    """Bytes of another protocol (SML) where IEC 62056-21 was expected."""

    token = "not_iec"


class WriteRefused(MeterEyeError):
    """A command that changes the meter, while writing is off."""

    token = "write_refused"


class UnknownProtocol(MeterEyeError):
    """A protocol name that is not in the protocol table (protocols.py)."""

    token = "unknown_protocol"


class ConfigError(MeterEyeError):
    """A configuration value is missing or out of range."""

    token = "config"


def describe(err):
    """One line for a person: the error's kind and its raw values."""
    name = type(err).__name__
    if err.args:
        return name + ": " + " ".join(str(a) for a in err.args)
    return name


class DataSetError(FrameError):
    """Text in a data block that is not a data set: a value without an id's
    parentheses, a group broken by a line end, a stray ')'. The block goes on."""

    token = "data_set"
