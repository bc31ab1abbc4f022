"""Multical 21 and flowIQ 2101/2200/3100 water meters (docs/kmp.md §7, §8)."""

from metereye.meters.kamstrup import WATER_INFO_FLAGS, KmpModel

# (id, unit code, exponent, length) as seen in the published water-meter
# frames (kmp_vectors.json: water-7reg-resp-gg, water-serial-resp-gg,
# fiq2200-batterydays-resp-ffr1402). 1002/1003/582 are UNCERTAIN on these
# meters (docs/kmp.md §7): a meter that does not know them leaves them out.
# Min/max flow live in loggers whose register ids are unknown (docs/decisions.md §8).
REGISTERS = (
    (68, 40, -3, 4),      # volume m³
    (74, 41, 0, 2),       # flow l/h
    (243, 40, -3, 4),     # reverse volume m³
    (292, 37, 0, 1),      # water temperature °C (label UNCERTAIN)
    (299, 37, 0, 1),      # ambient temperature °C (label UNCERTAIN)
    (99, 51, 0, 2),       # info codes
    (1004, 51, 0, 4),     # hour counter (unit 51 on this meter, not h)
    (1001, 51, 0, 4),     # serial number
    (1002, 47, 0, 4),     # clock hh:mm:ss (UNCERTAIN)
    (1003, 48, 0, 4),     # date yy:mm:dd (UNCERTAIN)
    (582, 62, 0, 2),      # battery days left (UNCERTAIN)
)

_DESCRIPTIONS = {
    "multical21": "Kamstrup Multical 21 water meter",
    "flowiq2101": "Kamstrup flowIQ 2101 water meter",
    "flowiq2200": "Kamstrup flowIQ 2200 water meter",
    "flowiq3100": "Kamstrup flowIQ 3100 water meter",
}


def model(name):
    # Schedule defaults are GUESSES from user reports (docs/kmp.md §8):
    # 30 s polling failed within hours for one flowIQ 2200, hourly reads ran
    # for months on a Multical 21. Hourly, never under 15 min, 48 a day.
    return KmpModel(name, _DESCRIPTIONS[name], REGISTERS, 1001, WATER_INFO_FLAGS,
                    interval_s=3600, min_interval_s=900, sessions_per_day=48)
