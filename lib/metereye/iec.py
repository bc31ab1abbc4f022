"""IEC 62056-21 (ex IEC 61107) and DSMR P1: the family's names in one import,
for the PC tools and the tests. The code lives by job:

    iec_message.py   the messages as events, and the builders of what we send
    iec_ident.py     the identification line: mode, speeds, reaction time
    iec_stream.py    IecReader: bytes in, events out, in bounded memory
    iec_session.py   IecSession: reads one meter in mode A, B or C

Device code imports the module it needs, not this one, so a meter that pushes
(p1.py) never loads the session; here too the session loads only when one of
its names is first asked for, so decoding never pays for it (docs/style.md R13).
"""

from metereye.iec_ident import (  # noqa: F401
    FRAMING,
    INITIAL_BAUD,
    Identification,
    baud_char_for,
    mode_c_baud,
    parse_identification,
)
from metereye.iec_message import (  # noqa: F401
    BREAK,
    NAK,
    Ack,
    Command,
    DataSet,
    End,
    Nak,
    Request,
    ack,
    command,
    password_command,
    read_command,
    request,
)
from metereye.iec_stream import IecReader  # noqa: F401


def __getattr__(name):
    if name == "IecSession" or name == "IecResult":
        from metereye import iec_session
        return getattr(iec_session, name)
    raise AttributeError(name)
