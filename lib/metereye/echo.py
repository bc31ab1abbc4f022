"""The head's self-test: does our own light come back?

An IR head hears its own LED through the meter's window (or a mirror held to
it). Sending a short pattern and finding it again proves LED, receiver and
wiring work; a meter that then stays silent points at the magnet and the
head's position instead. One routine serves `metereye echo-test`, `detect`
and the reader's page (docs/decisions.md §19). Sans-I/O: it speaks actions.py.
"""

from metereye.actions import Done, Receive, Send, wire_ms

# Printable 7-bit ASCII, so the test means the same on 7E1 and 8N1 lines; no
# KMP start byte (0x40/0x80) and no IEC '/' or '!', so no meter takes it for
# a request. "U" (0x55) alternates bits: a weak receiver garbles it first.
PATTERN = b"UUmetereye-echo-test-UU\r\n"

ECHO_OK = "echo"          # the pattern came back whole
GARBLED = "garbled"       # light came back, but not the pattern: weak or misaligned
NONE = "none"             # nothing at all: wiring, LED or receiver

ADVICE = {
    ECHO_OK: "The head hears its own light: LED, receiver and wiring work. If the meter stays "
             "silent, check the magnet (turn it 180°), its place, and the head's position on the eye.",
    GARBLED: "Light comes back but garbled: the receiver is barely reached. Check the head sits "
             "flat on the window, shield it from daylight, and check the receiver's resistor.",
    NONE: "Nothing came back: check the wiring (TX/RX swapped?), the supply, the LED (a phone "
          "camera shows it flash) and the receiver's sensitivity.",
}


class EchoResult:
    def __init__(self, outcome, received):
        self.outcome = outcome
        self.received = received

    @property
    def advice(self):
        return ADVICE[self.outcome]


class EchoTest:
    """Send PATTERN once at (baud, framing) and listen for it."""

    settle_ms = 200

    def __init__(self, baud=1200, framing="8N2"):
        self.baud = baud
        self.framing = framing
        self._got = bytearray()

    def start(self, now_ms):
        return Send(PATTERN, self.baud, self.framing)

    def sent(self, now_ms):
        return Receive(now_ms + self.settle_ms + wire_ms(len(PATTERN), self.baud, self.framing))

    def received(self, data, now_ms):
        if data:
            if len(self._got) < 4 * len(PATTERN):      # bounded: a chattering line
                self._got.extend(data)
            if PATTERN in self._got:
                return Done(EchoResult(ECHO_OK, bytes(self._got)))
            return None
        got = bytes(self._got)
        return Done(EchoResult(GARBLED if got else NONE, got))
