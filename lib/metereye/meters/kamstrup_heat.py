"""Multical 302/402/403/602/603 heat meters (docs/kmp.md §7, §8)."""

from metereye.meters.kamstrup import HEAT_INFO_FLAGS, KmpModel

# (id, unit code, exponent, length) as the Multical 403 frames of
# kmp_vectors.json show them (E1 in MWh, 3 decimals; V1 m³, 2 decimals);
# registers without a published frame take the unit of their documentation.
REGISTERS = (
    (60, 3, -3, 4),       # E1 heat energy MWh
    (63, 3, -3, 4),       # E3 cooling energy MWh
    (68, 40, -2, 4),      # V1 volume m³
    (74, 41, 0, 2),       # flow l/h
    (80, 22, -1, 2),      # power kW
    (86, 37, -2, 2),      # t1 forward °C
    (87, 37, -2, 2),      # t2 return °C
    (89, 38, -2, 2),      # t1 - t2 K
    (99, 51, 0, 4),       # info code
    (1004, 46, 0, 4),     # hour counter h
    (124, 41, 0, 4),      # max flow this year l/h
    (128, 22, -1, 4),     # max power this year kW
    (139, 41, 0, 4),      # max flow this month l/h
    (143, 22, -1, 4),     # max power this month kW
)

_DESCRIPTIONS = {
    "multical302": "Kamstrup Multical 302 heat meter",
    "multical402": "Kamstrup Multical 402 heat meter",
    "multical403": "Kamstrup Multical 403 heat meter",
    "multical602": "Kamstrup Multical 602 heat meter",
    "multical603": "Kamstrup Multical 603 heat meter",
}


def model(name):
    # GUESS from reports (docs/kmp.md §8): MC402/602 readers ran for months
    # at 5-min register reads; 15 min default, 5 min floor, 288 a day.
    return KmpModel(name, _DESCRIPTIONS[name], REGISTERS, None, HEAT_INFO_FLAGS,
                    interval_s=900, min_interval_s=300, sessions_per_day=288)
