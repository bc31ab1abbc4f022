"""IEC 62056-21 and P1 meter profiles: how to wake, sign on and read each kind.

A profile gives protocol (iec-a/-b/-c/-d), wake bytes, framing, speeds, the
default schedule (docs/decisions.md §21: battery heat meters once a day, mains electricity
every 15 min; all configurable) and the OBIS ids to publish (obis.py names them).
"""

from metereye.actions import Done, Receive, Send, SetLine
from metereye.iec_ident import FRAMING, INITIAL_BAUD
from metereye.iec_session import IecSession


class IecProfile:
    """One kind of IEC meter: what to send, at what speed, what to keep, how often."""

    def __init__(self, name, protocol, description, publish, interval_s, wake=b"",
                 framing=FRAMING, max_baud=9600, line_baud=300, switch_delay_ms=0,
                 fallback=True, legacy_hash1=False, min_interval_s=None, uncertain=()):
        self.name = name
        self.protocol = protocol
        self.description = description
        self.publish = publish          # catalogue OBIS ids (obis.base form)
        self.interval_s = interval_s
        self.min_interval_s = min_interval_s if min_interval_s is not None else interval_s // 4
        self.wake = wake
        self.framing = framing
        self.max_baud = max_baud        # our UART and head; the ACK proposes no more
        self.line_baud = line_baud      # the fixed speed of a pushing meter (iec-d)
        self.switch_delay_ms = switch_delay_ms
        self.fallback = fallback
        self.legacy_hash1 = legacy_hash1
        self.uncertain = uncertain      # what the research could not confirm
        # Room for a retry or a "read now" on top of the schedule; a daily
        # battery meter gets 4, never the 96 a mains meter may use.
        self.sessions_per_day = 4 if interval_s >= _SIX_HOURS else 2 * _DAY // interval_s
        self.manufacturer = _MANUFACTURERS.get(name.split("-")[0], "")

    def session(self, address="", keep_all=False, **overrides):
        """The session that reads this meter (iec-a/-b/-c), overrides applied."""
        if self.legacy_hash1:
            return Hash1Session(self.framing)
        args = {
            "address": address,
            "max_baud": self.max_baud,
            "framing": self.framing,
            "wake": self.wake,
            "switch_delay_ms": self.switch_delay_ms,
            "fallback": self.fallback,
            "keep": None if keep_all else self.publish,
            # A mode B meter that leaves its identification out (blank lines, the
            # Ultraheat T550) still switches, to the speed the profile reads it at.
            "blank_ident_baud": self.max_baud if self.protocol == "iec-b" else None,
        }
        args.update(overrides)
        return IecSession(**args)

    def listener(self, keep_all=False):
        """The listener for a pushing meter (iec-d)."""
        from metereye.p1 import PushListener
        return PushListener(None if keep_all else self.publish)


# Landis+Gyr Ultraheat UH50/T550 (docs/iec62056-21.md §6, docs/decisions.md §14): ultraheat-api's
# wake-up exactly: 40 NUL, "/?!" CR LF, a space; the request "/?!" CR LF that
# follows makes up the vector ultraheat-wakeup-request. 300 Bd 7E2, then mode B
# (ident 'C') switches to 2400 Bd 7E2.
ULTRAHEAT_WAKE = b"\x00" * 40 + b"/?!\r\n "

_HEAT = ("6.8", "6.26", "6.6", "6.33", "9.4", "6.31", "9.21")
_ELECTRICITY = (
    "1.8.0", "1.8.1", "1.8.2", "2.8.0", "2.8.1", "2.8.2",
    "1.7.0", "2.7.0", "16.7.0",
    "21.7.0", "41.7.0", "61.7.0", "22.7.0", "42.7.0", "62.7.0",
    "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0",
    "14.7.0", "13.7.0",
)
_P1 = _ELECTRICITY + ("96.14.0", "1.0.0", "24.2.1", "24.3.0")

_DAY = 86400
_MANUFACTURERS = {"ultraheat": "Landis+Gyr", "multical66c": "Kamstrup"}
_QUARTER = 900
_SIX_HOURS = 21600

# (name, protocol, publish, interval_s, min_interval_s, wake, framing, max_baud,
#  line_baud, description). A battery heat meter pays for every read (~30 min of
# battery per read on an Ultraheat, ultraheat-api): once a day, at most 4 a day.
PROFILES = (
    ("ultraheat-uh50", "iec-b", _HEAT, _DAY, _SIX_HOURS, ULTRAHEAT_WAKE, "7E2", 2400, 300,
     "Landis+Gyr Ultraheat UH50 heat meter (mode B, 2400 Bd 7E2)"),
    ("ultraheat-t550", "iec-b", _HEAT, _DAY, _SIX_HOURS, ULTRAHEAT_WAKE, "7E2", 2400, 300,
     "Landis+Gyr Ultraheat T550 (UHT550) heat meter"),
    ("multical66c", "iec-a", ("0.0", "6.8", "6.26", "6.31"), _DAY, _SIX_HOURS, b"", FRAMING, 300, 300,
     "Kamstrup Multical 66C heat meter (IEC-like mode A readout)"),
    ("iec-electricity", "iec-c", _ELECTRICITY + ("C.1.0", "0.0.0", "F.F"), _QUARTER, 60, b"", FRAMING,
     9600, 300, "IEC 62056-21 mode C electricity meter (generic)"),
    # A meter that offers a speed it never switches to (docs/iec62056-21.md §3, aquaticus):
    # read like any mode C meter; the session's fallback signs on again with '0'.
    ("iec-noswitch", "iec-c", _ELECTRICITY + ("C.1.0", "0.0.0", "F.F"), _QUARTER, 60, b"", FRAMING,
     9600, 300, "IEC 62056-21 mode C meter that offers a speed it does not switch to"),
    ("iec-push", "iec-d", _ELECTRICITY + ("0.0.0",), _QUARTER, 10, b"", FRAMING, 9600, 9600,
     "IEC 62056-21 mode D pushing meter, 9600 Bd 7E1 (eHZ, EasyMeter)"),
    ("dsmr-p1", "iec-d", _P1, _QUARTER, 10, b"", "8N1", 115200, 115200,
     "DSMR 4/5 P1 port (115200 Bd 8N1, CRC-16)"),
    ("dsmr3-p1", "iec-d", _P1, _QUARTER, 10, b"", FRAMING, 9600, 9600,
     "DSMR 2.2/3 P1 port (9600 Bd 7E1, no CRC)"),
)

# What the research could not confirm, per profile.
UNCERTAIN = (
    ("ultraheat-t550", "the T550's answer before its data: its published readout starts with two empty "
                       "lines, and ultraheat-api knows it by an empty answer line and then an empty read "
                       "at 300 Bd; whether the meter sends line feeds or nothing is not known: the "
                       "session reads line feeds"),
    ("multical66c", "the /#1 variant (sent at 300 Bd, answered at 1200 Bd; docs/kmp.md §1) has no published capture: "
                    "legacy_hash1 is off by default"),
    ("iec-push", "the standard's mode D speed is 2400 Bd; most meters seen push at 9600"),
)


def model(name):
    for row in PROFILES:
        if row[0] == name:
            (name, protocol, publish, interval_s, min_interval_s, wake, framing, max_baud,
             line_baud, description) = row
            return IecProfile(name, protocol, description, publish, interval_s, wake=wake,
                              framing=framing, max_baud=max_baud, line_baud=line_baud,
                              min_interval_s=min_interval_s,
                              uncertain=tuple(note for n, note in UNCERTAIN if n == name))
    raise KeyError(name)


def ultraheat_model(result):
    """The profile for a meter whose sign-on (an IecResult) brought blank lines
    where the identification goes: the Ultraheat T550 (docs/iec62056-21.md §6).
    None when an identification came, or nothing at all."""
    if result.identification is None and result.blank_identification:
        return "ultraheat-t550"
    return None


# --- Kamstrup's older "/#1" sign-on (UNCERTAIN, off by default) -------------

class Hash1Result:
    """The digit fields of a "/#1" answer and what was seen of the line."""

    def __init__(self):
        self.fields = []            # runs of digits, in order
        self.bytes_received = 0
        self.echo_seen = False
        self.outcome = None


class Hash1Session:
    """UNCERTAIN: Multical 66C/401's older protocol (docs/kmp.md §1): "/#1" at
    300 Bd 7E1, the answer at 1200 Bd, ASCII with ten 7-digit fields. No capture
    was published: the fields come out as found, unnamed."""

    MAX_ANSWER = 160        # ten 7-digit fields and their separators, with room
    reply_ms = 3000

    def __init__(self, framing=FRAMING):
        self.framing = framing
        self.result = Hash1Result()
        self._buf = bytearray(self.MAX_ANSWER)
        self._n = 0

    def start(self, now_ms):
        return Send(b"/#1", INITIAL_BAUD, self.framing)

    def sent(self, now_ms):
        return SetLine(1200, self.framing)

    def line_set(self, now_ms):
        return Receive(now_ms + self.reply_ms)

    def received(self, data, now_ms):
        r = self.result
        if data:
            r.bytes_received += len(data)
            for b in data:
                if self._n < self.MAX_ANSWER:
                    self._buf[self._n] = b & 0x7F
                    self._n += 1
            return Receive(now_ms + 1500)
        buf = self._buf
        start = 0
        if bytes(buf[:3]) == b"/#1":
            r.echo_seen = True
            start = 3
        run = -1
        for i in range(start, self._n + 1):
            digit = i < self._n and 0x30 <= buf[i] <= 0x39
            if digit and run < 0:
                run = i
            elif not digit and run >= 0:
                r.fields.append(str(buf[run:i], "ascii"))
                run = -1
        if r.fields:
            r.outcome = "ok"
        elif r.echo_seen:
            r.outcome = "asleep"
        else:
            r.outcome = "garbled" if r.bytes_received else "no_echo"
        return Done(r)
