"""The one place that decides whether a command may change a meter.

Reading commands are allow-listed; everything else (KMP SetClock 0x09,
PutRegister 0x11, ClearEventStatus 0x9C, CIDs we do not know; IEC W and E
commands) is refused unless the caller turned writing on.
"""

from metereye.errors import WriteRefused

# docs/kmp.md §5: GetType, GetSerialNo, GetRegister, GetEventStatus, the log reads.
KMP_READ_CIDS = (0x01, 0x02, 0x10, 0x9B, 0xA0, 0xA1, 0xA2, 0xA3)

# docs/iec62056-21.md §7: R reads, B0 ends the session. P (password) is
# decided by the caller: sent only when the user configured one.
IEC_READ_COMMANDS = ("R1", "R2", "R3", "R4", "R5", "R6", "B0", "B1", "B2", "P0", "P1", "P2")


def check_kmp(cid, allow_write=False):
    """Raise WriteRefused unless KMP command `cid` only reads, or writing is on."""
    if cid not in KMP_READ_CIDS and not allow_write:
        raise WriteRefused("kmp", cid)


def check_iec(command, allow_write=False):
    """Raise WriteRefused unless IEC command `command` ("R1", "W2", …) only reads."""
    if command not in IEC_READ_COMMANDS and not allow_write:
        raise WriteRefused("iec", command)
