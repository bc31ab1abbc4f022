"""SML push meter profiles (German eHZ family): the line, what to publish, how often.

An SML meter pushes a telegram every 1-4 s at 9600 Bd 8N1 whatever anyone does
(docs/sml.md §1); "reading" it is listening until one telegram passes its
CRCs. The interval only says how often a reading is published (60 s by
default); listening costs the meter nothing, so the budget is the schedule's cap.
"""

from metereye.sml import FRAMING, LINE_BAUD, SmlReader, SmlSession

# Catalogue ids (obis.base form) a reading publishes: energy, power, per-phase
# values, and the meter's own id.
_PUBLISH = (
    "1.8.0", "1.8.1", "1.8.2", "2.8.0", "2.8.1", "2.8.2",
    "16.7.0", "15.7.0", "36.7.0", "56.7.0", "76.7.0",
    "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0", "14.7.0",
    "96.1.0", "0.0.9",
)
_DAY = 86400
# How long `read` listens for one good telegram: several of the slowest meter's
# 4 s periods, so one damaged telegram does not end a read.
LISTEN_MS = 15000

# (name, manufacturer, description)
PROFILES = (
    ("sml-ehz", "", "SML push meter (German eHZ family: EMH, ISKRA, Holley, DZG, EasyMeter, eBZ, Itron)"),
    ("sml-emh", "EMH", "EMH eHZ SML meter (energy, tariffs, power 15.7.0)"),
    ("sml-holley", "Holley", "Holley DTZ541 SML meter, full data set (power, voltages, currents, angles)"),
    ("sml-iskra", "ISKRA", "ISKRA MT631 SML meter with its PIN entered (import, export, power)"),
    ("sml-pinlocked", "Holley", "SML meter without its PIN: energy 1.8.0 in whole kWh only"),
    ("sml-7bit", "Itron", "SML meter behind a head set to 7 data bits (every CRC fails)"),
)

# What the research could not confirm, for every profile.
UNCERTAIN = ("how often each make pushes is not in the captures: 1-4 s (docs/sml.md §1)",)


class SmlProfile:
    """One kind of SML meter: line settings, what to keep, how often to publish."""

    protocol = "sml"
    line_baud = LINE_BAUD
    framing = FRAMING
    crc = "auto"                    # X-25, else KERMIT, reported (docs/sml.md §2)
    interval_s = 60
    min_interval_s = 5              # the meter pushes every 1-4 s: faster says nothing new
    sessions_per_day = 1440         # listening costs the meter nothing: the config's cap

    def __init__(self, name, manufacturer, description, uncertain=()):
        self.name = name
        self.manufacturer = manufacturer
        self.description = description
        self.publish = _PUBLISH
        self.uncertain = uncertain

    def listener(self, keep_all=False):
        """The stream reader for this meter's bytes."""
        return SmlReader(self.crc, None if keep_all else self.publish)

    def session(self, keep_all=False, timeout_ms=LISTEN_MS, **overrides):
        """The session that listens until one good telegram came."""
        args = {"baud": self.line_baud, "framing": self.framing, "crc": self.crc,
                "keep": None if keep_all else self.publish}
        args.update(overrides)
        return SmlSession(timeout_ms, **args)


def model(name):
    for row in PROFILES:
        if row[0] == name:
            return SmlProfile(row[0], row[1], row[2], UNCERTAIN)
    raise KeyError(name)
