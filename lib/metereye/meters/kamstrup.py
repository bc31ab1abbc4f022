"""What every Kamstrup KMP register id means: one table for all models (docs/decisions.md §7).

Each row: id, key, Home Assistant device_class, state_class, flags.
Sources: docs/kmp.md §7 (PyKMP constants, Kamstrup technical descriptions,
published frames). Flags mark what the research could not confirm.
"""

from metereye.compat import const

UNCERTAIN = const(1)     # meaning or presence on this model not confirmed
DIAGNOSTIC = const(2)    # Home Assistant shows it under diagnostics
TEXT = const(4)          # an identifier or date, not a measurement

# One line per register: id, key, device_class, state_class, flags ("-" for
# none). Text rather than a tuple of tuples: loaded from .mpy, 50 tuples cost
# ~13 KB of heap on the unix port, this one string ~3 KB; lookups scan it.
# 292/299: labels from one poster's Multical 21 capture (docs/kmp.md §7).
# 582: named BatteryDaysLeft in a flowIQ 3200 data sheet as reported; one frame.
_TABLE = """\
1 energy_in energy total_increasing 0
2 energy_out energy total_increasing 0
60 heat_energy energy total_increasing 0
61 inlet_energy energy total_increasing 0
62 outlet_energy energy total_increasing 0
63 cooling_energy energy total_increasing 0
68 volume water total_increasing 0
69 volume_v2 water total_increasing 0
74 flow volume_flow_rate measurement 0
75 flow_v2 volume_flow_rate measurement 0
80 power power measurement 0
86 temp_forward temperature measurement 0
87 temp_return temperature measurement 0
88 temp_t3 temperature measurement 0
89 temp_diff temperature measurement 0
94 heat_energy_e2 energy total_increasing 0
95 tap_water_energy_e6 energy total_increasing 0
96 tap_water_energy_e7 energy total_increasing 0
97 volume_temp_forward_e8 - total_increasing 0
98 target_date - - 6
99 info - - 2
110 volume_temp_return_e9 - total_increasing 0
113 info_event_counter - total_increasing 2
123 max_flow_date_year - - 4
124 max_flow_year volume_flow_rate measurement 0
127 max_power_date_year - - 4
128 max_power_year power measurement 0
138 max_flow_date_month - - 4
139 max_flow_month volume_flow_rate measurement 0
140 min_flow_date_month - - 4
141 min_flow_month volume_flow_rate measurement 0
142 max_power_date_month - - 4
143 max_power_month power measurement 0
146 avg_temp_forward_year temperature measurement 0
147 avg_temp_return_year temperature measurement 0
149 avg_temp_forward_month temperature measurement 0
150 avg_temp_return_month temperature measurement 0
239 volume_high_res water total_increasing 0
243 volume_reverse water total_increasing 0
266 heat_energy_high_res energy total_increasing 0
267 cooling_energy_high_res energy total_increasing 0
292 temp_water temperature measurement 1
299 temp_ambient temperature measurement 1
582 battery_days_left duration measurement 3
1001 serial_number - - 6
1002 clock - - 6
1003 date - - 6
1004 hour_counter duration total_increasing 2
1005 software_edition - - 6
1010 customer_number - - 6
"""


def _row(line):
    rid, key, dclass, sclass, flags = line.split()
    return (int(rid), key, None if dclass == "-" else dclass,
            None if sclass == "-" else sclass, int(flags))


def register_info(rid):
    """(id, key, device_class, state_class, flags) of `rid`; a generic row when unknown."""
    prefix = "%d " % rid
    if _TABLE.startswith(prefix):
        start = 0
    else:
        start = _TABLE.find("\n" + prefix) + 1
        if start == 0:
            return (rid, "register_%d" % rid, None, None, UNCERTAIN)
    return _row(_TABLE[start:_TABLE.index("\n", start)])


def all_registers():
    """Every row of the table."""
    return [_row(line) for line in _TABLE.split("\n") if line]


def register_key(rid):
    return register_info(rid)[1]


# Info register bits, Multical 21 / flowIQ 2101 technical description §11.4:
# bits 0-3 are the active info codes; the higher bits count hours (not flags).
WATER_INFO_FLAGS = ((0x0001, "dry"), (0x0002, "reverse"), (0x0004, "leak"), (0x0008, "burst"))

# Multical 403 technical description §7.7.1 (value = bit weight). Further
# weights exist but were not legible in the copy the research read.
HEAT_INFO_FLAGS = (
    (1, "no_voltage_supply"),
    (8, "t1_above_range"),
    (16, "t2_above_range"),
    (32, "t1_below_range"),
    (64, "t2_below_range"),
    (128, "invalid_temp_diff"),
    (256, "v1_air"),
    (8192, "pulse_b_leak"),
    (16384, "pulse_a_external_alarm"),
    (32768, "pulse_b_external_alarm"),
)


def decode_info(value, flags_table):
    """The names of the active info flags in an info register value."""
    return [name for bit, name in flags_table if value & bit]


class KmpModel:
    """One Kamstrup model: what to read, how it answers, how often to ask."""

    protocol = "kmp"
    manufacturer = "Kamstrup"

    def __init__(self, name, description, registers, serial_register, info_flags,
                 interval_s, min_interval_s, sessions_per_day):
        self.name = name
        self.description = description
        # (id, unit code, exponent, length) as the model's real frames show them;
        # the meter's own unit byte always wins over this when it answers.
        self.registers = registers
        self.serial_register = serial_register   # None: ask with GetSerialNo
        self.info_flags = info_flags
        self.interval_s = interval_s
        self.min_interval_s = min_interval_s
        self.sessions_per_day = sessions_per_day

    @property
    def register_ids(self):
        return [row[0] for row in self.registers]


def key_classes(key):
    """(device_class, state_class, flags) of a register key, None when unknown."""
    marker = " " + key + " "
    at = _TABLE.find(marker)
    if at < 0:
        return None
    start = _TABLE.rfind("\n", 0, at) + 1
    row = _row(_TABLE[start:_TABLE.index("\n", at)])
    return row[2], row[3], row[4]
