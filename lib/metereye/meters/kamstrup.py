"""What every Kamstrup KMP register id means: one table for all models (ANSWERS 7).

Each row: (id, key, Home Assistant device_class, state_class, flags).
Sources: research/kmp.md §7 (PyKMP constants, Kamstrup technical descriptions,
published frames). Flags mark what the research could not confirm.
"""

from metereye.compat import const

UNCERTAIN = const(1)     # meaning or presence on this model not confirmed
DIAGNOSTIC = const(2)    # Home Assistant shows it under diagnostics
TEXT = const(4)          # an identifier or date, not a measurement

_E = "energy"
_W = "water"
_T = "temperature"
_F = "volume_flow_rate"
_P = "power"
_TI = "total_increasing"
_M = "measurement"

REGISTERS = (
    (1, "energy_in", _E, _TI, 0),
    (2, "energy_out", _E, _TI, 0),
    (60, "heat_energy", _E, _TI, 0),
    (61, "inlet_energy", _E, _TI, 0),
    (62, "outlet_energy", _E, _TI, 0),
    (63, "cooling_energy", _E, _TI, 0),
    (68, "volume", _W, _TI, 0),
    (69, "volume_v2", _W, _TI, 0),
    (74, "flow", _F, _M, 0),
    (75, "flow_v2", _F, _M, 0),
    (80, "power", _P, _M, 0),
    (86, "temp_forward", _T, _M, 0),
    (87, "temp_return", _T, _M, 0),
    (88, "temp_t3", _T, _M, 0),
    (89, "temp_diff", _T, _M, 0),
    (94, "heat_energy_e2", _E, _TI, 0),
    (95, "tap_water_energy_e6", _E, _TI, 0),
    (96, "tap_water_energy_e7", _E, _TI, 0),
    (97, "volume_temp_forward_e8", None, _TI, 0),
    (98, "target_date", None, None, DIAGNOSTIC | TEXT),
    (99, "info", None, None, DIAGNOSTIC),
    (110, "volume_temp_return_e9", None, _TI, 0),
    (113, "info_event_counter", None, _TI, DIAGNOSTIC),
    (123, "max_flow_date_year", None, None, TEXT),
    (124, "max_flow_year", _F, _M, 0),
    (127, "max_power_date_year", None, None, TEXT),
    (128, "max_power_year", _P, _M, 0),
    (138, "max_flow_date_month", None, None, TEXT),
    (139, "max_flow_month", _F, _M, 0),
    (140, "min_flow_date_month", None, None, TEXT),
    (141, "min_flow_month", _F, _M, 0),
    (142, "max_power_date_month", None, None, TEXT),
    (143, "max_power_month", _P, _M, 0),
    (146, "avg_temp_forward_year", _T, _M, 0),
    (147, "avg_temp_return_year", _T, _M, 0),
    (149, "avg_temp_forward_month", _T, _M, 0),
    (150, "avg_temp_return_month", _T, _M, 0),
    (239, "volume_high_res", _W, _TI, 0),
    (243, "volume_reverse", _W, _TI, 0),
    (266, "heat_energy_high_res", _E, _TI, 0),
    (267, "cooling_energy_high_res", _E, _TI, 0),
    # research/kmp.md §7: labels from one poster's Multical 21 capture.
    (292, "temp_water", _T, _M, UNCERTAIN),
    (299, "temp_ambient", _T, _M, UNCERTAIN),
    # Named BatteryDaysLeft in a flowIQ 3200 data sheet as reported; one frame.
    (582, "battery_days_left", "duration", _M, UNCERTAIN | DIAGNOSTIC),
    (1001, "serial_number", None, None, DIAGNOSTIC | TEXT),
    (1002, "clock", None, None, DIAGNOSTIC | TEXT),
    (1003, "date", None, None, DIAGNOSTIC | TEXT),
    (1004, "hour_counter", "duration", _TI, DIAGNOSTIC),
    (1005, "software_edition", None, None, DIAGNOSTIC | TEXT),
    (1010, "customer_number", None, None, DIAGNOSTIC | TEXT),
)


def register_info(rid):
    """The row of register `rid`, or a generic one for an id we do not know."""
    for row in REGISTERS:
        if row[0] == rid:
            return row
    return (rid, "register_%d" % rid, None, None, UNCERTAIN)


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
