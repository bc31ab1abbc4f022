"""What a sans-I/O protocol session asks its driver to do (docs/design.md: "a session
answers with what to do next").

The driver (tools/ on a PC, firmware/link.py on the device) loops:

    action = session.start(now_ms)
    while not isinstance(action, Done):
        Send     -> set the line to (baud, framing), write data, wait until it
                    has left the wire (TX done), then action = session.sent(now_ms)
        SetLine  -> change speed/framing (TX already drained), then
                    action = session.line_set(now_ms)
        Receive  -> for each chunk read: a = session.received(chunk, now_ms);
                    a None means keep receiving until the same deadline; at the
                    deadline call session.received(b"", now_ms)
        Sleep    -> wait until until_ms, then action = session.woke(now_ms)

Framing is a string like "8N2" or "7E1": data bits, parity (N/E/O), stop bits.
"""


class Send:
    def __init__(self, data, baud, framing):
        self.data = data
        self.baud = baud
        self.framing = framing

    def __repr__(self):
        return "Send(%r @%d %s)" % (self.data, self.baud, self.framing)


class SetLine:
    def __init__(self, baud, framing):
        self.baud = baud
        self.framing = framing

    def __repr__(self):
        return "SetLine(%d %s)" % (self.baud, self.framing)


class Receive:
    def __init__(self, deadline_ms):
        self.deadline_ms = deadline_ms

    def __repr__(self):
        return "Receive(until %d)" % self.deadline_ms


class Sleep:
    def __init__(self, until_ms):
        self.until_ms = until_ms

    def __repr__(self):
        return "Sleep(until %d)" % self.until_ms


class Done:
    def __init__(self, result):
        self.result = result

    def __repr__(self):
        return "Done(%r)" % (self.result,)


def bits_per_char(framing):
    """Bits one character takes on the wire: start + data + parity + stop."""
    data = int(framing[0])
    parity = 0 if framing[1] == "N" else 1
    return 1 + data + parity + int(framing[2])


def wire_ms(nbytes, baud, framing):
    """Milliseconds `nbytes` take on the wire, rounded up."""
    return (nbytes * bits_per_char(framing) * 1000 + baud - 1) // baud
