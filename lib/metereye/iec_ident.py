"""IEC 62056-21: the meter's identification line and what it says about the
line: the mode, the speeds of the baud character, the reaction time. Sans-I/O.

    "/" XXX Z {"\\" W} text CR LF        docs/iec62056-21.md §3

Every sign-on starts at 300 Bd 7E1 (docs/iec62056-21.md §2).
"""

from metereye.compat import const

INITIAL_BAUD = const(300)
FRAMING = "7E1"           # IEC 62056-21 §2: 1 start, 7 data, even parity, 1 stop

# Baud characters (docs/iec62056-21.md §2): mode C '0'..'6', mode B 'A'..'F'; the rest reserved.
_C_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
_B_BAUDS = (600, 1200, 2400, 4800, 9600, 19200)


class Identification:
    """The meter's identification line: /XXXZ[\\W…]text."""

    def __init__(self, manufacturer, baud_char, enhanced, text):
        self.manufacturer = manufacturer
        self.baud_char = baud_char
        self.enhanced = enhanced        # the W of every "\W", in order
        self.text = text

    @property
    def mode(self):
        """Mode "A", "B", "C" or "C or E" from the baud character alone (docs/decisions.md §11)."""
        z = self.baud_char
        if "0" <= z <= "9":
            return "C or E" if "2" in self.enhanced else "C"
        if "A" <= z <= "I":
            return "B"
        return "A"

    @property
    def baud(self):
        """The speed Z offers, 300 in mode A, None for a reserved character."""
        z = self.baud_char
        if "0" <= z <= "9":
            i = ord(z) - 0x30
            return _C_BAUDS[i] if i < len(_C_BAUDS) else None
        if "A" <= z <= "I":
            i = ord(z) - 0x41
            return _B_BAUDS[i] if i < len(_B_BAUDS) else None
        return INITIAL_BAUD

    @property
    def reaction_ms(self):
        """The meter's minimum reaction time: 20 ms when XXX's third letter is
        lower case, else 200 ms (IEC 62056-21 §3; libIEC62056's test)."""
        c = self.manufacturer[2]
        return 20 if "a" <= c <= "z" else 200

    def __repr__(self):
        return "Identification(/%s%s %r)" % (self.manufacturer, self.baud_char, self.text)


def parse_identification(line):
    """The Identification of a line without its "/" and CR LF, or None."""
    if len(line) < 4:
        return None
    for c in line[:3]:
        if not ("A" <= c <= "Z" or "a" <= c <= "z"):
            return None
    enhanced = []
    i = 4
    # "\W" pairs directly after Z; W is exactly one character (docs/iec62056-21.md §3).
    while i + 1 < len(line) and line[i] == "\\":
        enhanced.append(line[i + 1])
        i += 2
    return Identification(line[:3], line[3], enhanced, line[i:])


def baud_char_for(offered, max_baud):
    """The mode C character to propose: the meter's offer, capped at max_baud."""
    best = "0"
    limit = ord(offered) - 0x30 if "0" <= offered <= "9" else 0
    if limit >= len(_C_BAUDS):
        limit = 0                   # '7'..'9' are reserved: stay at 300
    for i in range(limit + 1):
        if _C_BAUDS[i] <= max_baud:
            best = chr(0x30 + i)
    return best


def mode_c_baud(baud_char):
    """The speed of a mode C baud character; 300 for a reserved or foreign one."""
    i = ord(baud_char) - 0x30
    return _C_BAUDS[i] if 0 <= i < len(_C_BAUDS) else INITIAL_BAUD
