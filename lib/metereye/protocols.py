"""The protocols metereye speaks, and where each one's parts live.

This is the one table every dispatcher reads: the reader firmware (which
module reads a meter, and whether it listens or asks), its page, the PC
program's read/decode/detect, and the simulator. Parts are named by module and
imported only by whoever uses them, so a reader with one Kamstrup meter never
loads the IEC code. An unknown protocol is an error, never a default.

One row per value of the model table's protocol column (meters.MODELS):

    name       "kmp", "iec-a" … "iec-d", "sml": the model table's protocol
    family     what `--protocol` takes and JSON's "protocol" says
    pushes     True: the meter sends on its own and is listened to, never asked
    baud       the speed its sessions start at; None: the model's own line speed
    framing    the framing they start with; None: the model's own
    device     the firmware module that reads it (firmware/<device>.py)
    keys       the lib module whose key_classes(key) gives Home Assistant classes
    json       the lib module whose decode(data) gives `decode --json`'s shape
    tools      the PC module with its read, decode and detect commands
    simulator  the PC module whose meters `metereye simulate` plays

A tuple of constant tuples: it costs nothing until looked up, and freezes into
flash (docs/style.md R7).
"""

from metereye.errors import UnknownProtocol

PROTOCOLS = (
    ("kmp", "kmp", False, 1200, "8N2", "kmp_reader", "metereye.meters.kamstrup",
     "metereye.kmp_json", "metereye_tools.kmp_commands", "metereye_tools.simulator"),
    ("iec-a", "iec", False, 300, "7E1", "iec_reader", "metereye.obis",
     "metereye.iec_json", "metereye_tools.iec_commands", "metereye_tools.iec_simulator"),
    ("iec-b", "iec", False, 300, "7E1", "iec_reader", "metereye.obis",
     "metereye.iec_json", "metereye_tools.iec_commands", "metereye_tools.iec_simulator"),
    ("iec-c", "iec", False, 300, "7E1", "iec_reader", "metereye.obis",
     "metereye.iec_json", "metereye_tools.iec_commands", "metereye_tools.iec_simulator"),
    # Mode D meters and DSMR P1 ports push at their own fixed speed: 9600 7E1 or 115200 8N1.
    ("iec-d", "iec", True, None, None, "iec_reader", "metereye.obis",
     "metereye.iec_json", "metereye_tools.iec_commands", "metereye_tools.iec_simulator"),
    # SML push meters (German eHZ): 9600 Bd 8N1 on the optical interface (docs/sml.md §1).
    ("sml", "sml", True, 9600, "8N1", "sml_reader", "metereye.obis",
     "metereye.sml_json", "metereye_tools.sml_commands", "metereye_tools.sml_simulator"),
)


class Protocol:
    """One row of PROTOCOLS, by name."""

    def __init__(self, row):
        (self.name, self.family, self.pushes, self.baud, self.framing, self.device,
         self.keys, self.json, self.tools, self.simulator) = row

    def line(self, model=None):
        """(baud, framing) its sessions start with; a pusher's come from its model."""
        if self.baud is not None or model is None:
            return self.baud, self.framing
        return model.line_baud, model.framing


def find(name):
    """The Protocol called `name`; UnknownProtocol when there is none."""
    for row in PROTOCOLS:
        if row[0] == name:
            return Protocol(row)
    raise UnknownProtocol(name)


def families():
    """Every family, in table order, once each ("kmp", "iec", …)."""
    out = []
    for row in PROTOCOLS:
        if row[1] not in out:
            out.append(row[1])
    return out


def in_family(family):
    """The Protocols of `family`; UnknownProtocol when there is none."""
    out = [Protocol(row) for row in PROTOCOLS if row[1] == family]
    if not out:
        raise UnknownProtocol(family)
    return out


def load(module):
    """Import a part named in the table (a dotted module name) and return the module."""
    return __import__(module, None, None, ("_",))
