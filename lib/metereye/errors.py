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
    # The telegram a P1 or SML error cut short, as far as it could be read; None for the rest.
    telegram: "object" = None


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


class NoIdentification(FrameError):
    """Blank lines where IEC 62056-21's identification goes: the Landis+Gyr
    Ultraheat T550 answers so (docs/iec62056-21.md §6); its data follows."""

    token = "no_identification"


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


# --- SML (docs/sml.md) -------------------------------------------------------

class SmlEscapeError(FrameError):
    """An SML escape sequence (1B1B1B1B on the 4-byte grid) followed by
    something that is neither a literal 1B1B1B1B, a start nor an end."""

    token = "escape"


class SmlBytesLost(CrcMismatch):
    """The SML end mark arrived off its 4-byte grid and the CRC fails: bytes
    were lost on the line (a weak signal, an overrun buffer)."""

    token = "lost_bytes"

    def __str__(self):
        return ("bytes were lost on the line (%s): check the head's position and "
                "that nothing else reads the port" % (self.args[0] if self.args else "CRC fails"))


class SevenBitLine(CrcMismatch):
    """An SML telegram whose every byte has bit 7 clear and whose CRC fails:
    it was read with 7 data bits; SML meters send 8N1."""

    token = "seven_bits"

    def __str__(self):
        return ("every byte arrived with bit 7 clear and the CRC fails: the line was read "
                "with 7 data bits; SML meters send 9600 Bd 8N1: read at 8N1")


class SmlMessageCrc(CrcMismatch):
    """The transport CRC held but one SML message's own CRC does not."""

    token = "message_crc"


class SmlSyntaxError(FrameError):
    """A telegram whose CRC held but whose SML structure does not parse."""

    token = "sml_syntax"


class NotSml(FrameError):
    """Bytes with no SML start sequence (1B1B1B1B 01010101) in them."""

    token = "not_sml"


class IecNotSml(NotSml):
    """IEC 62056-21 text where SML was expected. `parity` is True when the
    bytes carry a 7E1 line's parity bit in bit 7 (read at 8N1)."""

    token = "iec"

    def __str__(self):
        if self.args and self.args[0]:
            return ("IEC 62056-21 text, not SML, with a parity bit in bit 7: this meter "
                    "speaks IEC 62056-21 at 7E1 (the capture was made at 8N1): read it as IEC")
        return ("IEC 62056-21 text (an identification line /XXX…), not SML: read this meter as "
                "IEC 62056-21 (modes A-D, DSMR P1)")
