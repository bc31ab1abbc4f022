"""What `metereye detect` asks of each protocol family, and what it reports.

Each family's PC module (the `tools` column of lib/metereye/protocols.py)
offers detect its probes in one of two ways:

    probes(listen_s) -> [Probe, ...]  a family that asks the meter, perhaps in several
                                      ways; a listening probe listens listen_s per speed
    probe(port) -> Found or None      a family that only listens: detect wraps it as one
                                      listening Probe (tools_probes below)

A probe asks once (or listens once) and returns a Found, or None after adding
what it tried to `tried` (dicts with "probe" and "outcome"). detect runs the
probes of every family in `rank` order and stops at the first Found.

`rank` orders them cheapest for the meter first: a request a meter ignores
when it is not its protocol costs nothing but a little time, and one sign-on
is what a battery IEC meter counts (docs/peers.md §5). Listening for a pushing
meter costs the meter nothing but takes longest, so it comes last.
"""

from metereye import protocols

RANK_SIGN_ON = 10       # one IEC sign-on at 300 Bd (a few seconds when silent)
RANK_ASK = 20           # one short request (about a second when silent)
RANK_LISTEN = 90        # listening for a push, seconds per speed
# Between two probes, so a meter that answered one is idle again before the
# next (IEC 62056-21: 1.5 s without a message ends a session).
PROBE_GAP_S = 0.3
# How long a listening probe listens at each speed: DSMR 2.2-4 push every 10 s.
LISTEN_S = 11.0


class Found:
    """What detect (or a read that met another meter) found: protocol, line,
    identity, the --meter to read it with (None: read by --protocol), a summary."""

    def __init__(self, protocol, baud, framing, identity, meter, summary, note=None):
        self.protocol = protocol
        self.baud = baud
        self.framing = framing
        self.identity = identity
        self.meter = meter
        self.summary = summary
        self.note = note


class Probe:
    """One way of finding a meter: `run(port, tried)` gives a Found or None.
    `quick`: over in about a second when nothing answers, so a read of another
    protocol that met silence may ask it too before giving up."""

    def __init__(self, rank, label, run, quick=False):
        self.rank = rank
        self.label = label
        self.run = run
        self.quick = quick


def family_module(family):
    """The PC module of `family` (UnknownProtocol when the table has no such family)."""
    return protocols.load(protocols.in_family(family)[0].tools)


def tools_probes(family, listen_s=LISTEN_S):
    """The probes `family`'s module offers; a lone probe(port) is wrapped as a listening Probe."""
    try:
        module = family_module(family)
    except ImportError:
        return []               # the table names a module this installation lacks
    if hasattr(module, "probes"):
        return module.probes(listen_s)
    if hasattr(module, "probe"):
        label = "listening for %s" % family.upper()

        def run(port, tried):
            found = module.probe(port)
            tried.append({"probe": label, "outcome": "ok" if found else "silent"})
            return found
        return [Probe(RANK_LISTEN, label, run)]
    return []


def all_probes(listen_s=LISTEN_S, skip_family=None):
    """Every family's probes, in the order detect runs them."""
    out = []
    for family in protocols.families():
        if family != skip_family:
            out.extend(tools_probes(family, listen_s))
    return sorted(out, key=lambda p: p.rank)       # stable: table order within a rank


def ask_the_others(port, family):
    """After a read of `family` met silence with our light coming back: the quick
    probes of the other families, once each. The Found, or None."""
    tried = []
    for probe in all_probes(skip_family=family):
        if probe.quick:
            found = probe.run(port, tried)
            if found is not None:
                return found
    return None


def read_command(port, found):
    """The exact `metereye read` line for what was found (docs/decisions.md §17)."""
    words = ["metereye", "read", "--port", port]
    if found.meter:
        words += ["--meter", found.meter]
    else:
        words += ["--protocol", protocols.find(found.protocol).family]
    return " ".join(quote(w) for w in words)


def quote(word):
    """`word` as a POSIX shell reads it back."""
    safe = all(c.isalnum() or c in "/-_.:=@+," for c in word)
    return word if safe and word else "'" + word.replace("'", "'\\''") + "'"
