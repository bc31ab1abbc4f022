"""What the common OBIS ids mean: one table for every IEC 62056-21 and P1 meter.

Ids are matched as meters write them: "1-0:1.8.0*255", "1.8.0", "C.1", "6.8*01".
The A group (medium) is optional; an E of 255 means "not used" and matches E=0
(EasyMeter writes 1-0:21.7.255); the F group after "*" or "&" names a
previous billing period or Ultraheat's set-day values: same class, own key.

A row is one string, "medium:C.D.E key unit device_class state_class flags",
"-" for none: 60 strings cost half the heap of 60 seven-field tuples on a
board that loads .mpy (frozen, both live in flash), and lookup() gives the
row as a tuple (medium, "C.D.E", key, unit, device_class, state_class, flags).
medium "1" electricity, "0" abstract (DSMR), "6" heat, "8" water; an id
without A matches any row. `unit` is what the meter usually writes, the fallback
when it writes none; the meter's own unit always wins. Keys joined by "&" name
each value of a data set (9.4 holds two temperatures), and lookup() gives them
as a tuple; a plain key names the last value (DSMR gas: the timestamp comes
first). Sources: docs/iec62056-21.md §8 (OBIS per IEC 62056-61 as esphome-libs/dsmr_parser copies it,
DSMR ids from dsmr_parser tests, Ultraheat meanings from ultraheat-api) and docs/sml.md §5 (SML meters).
"""

from metereye.compat import const

UNCERTAIN = const(1)     # class or meaning not confirmed
DIAGNOSTIC = const(2)    # Home Assistant shows it under diagnostics
TEXT = const(4)          # an identifier, date or code, not a measurement

OBJECTS = (
    "1:1.8.0 energy_import kWh energy total_increasing 0",
    "1:1.8.1 energy_import_t1 kWh energy total_increasing 0",
    "1:1.8.2 energy_import_t2 kWh energy total_increasing 0",
    "1:2.8.0 energy_export kWh energy total_increasing 0",
    "1:2.8.1 energy_export_t1 kWh energy total_increasing 0",
    "1:2.8.2 energy_export_t2 kWh energy total_increasing 0",
    # docs/iec62056-21.md §8: HA's reactive_energy class exists only in newer versions.
    "1:3.8.0 reactive_energy_import kvarh reactive_energy total_increasing 1",
    "1:4.8.0 reactive_energy_export kvarh reactive_energy total_increasing 1",
    "1:1.7.0 power_import kW power measurement 0",
    "1:2.7.0 power_export kW power measurement 0",
    "1:16.7.0 power W power measurement 0",
    "1:21.7.0 power_import_l1 kW power measurement 0",
    "1:41.7.0 power_import_l2 kW power measurement 0",
    "1:61.7.0 power_import_l3 kW power measurement 0",
    "1:22.7.0 power_export_l1 kW power measurement 0",
    "1:42.7.0 power_export_l2 kW power measurement 0",
    "1:62.7.0 power_export_l3 kW power measurement 0",
    "1:32.7.0 voltage_l1 V voltage measurement 0",
    "1:52.7.0 voltage_l2 V voltage measurement 0",
    "1:72.7.0 voltage_l3 V voltage measurement 0",
    "1:31.7.0 current_l1 A current measurement 0",
    "1:51.7.0 current_l2 A current measurement 0",
    "1:71.7.0 current_l3 A current measurement 0",
    "1:14.7.0 frequency Hz frequency measurement 0",
    "1:13.7.0 power_factor - power_factor measurement 0",
    "1:33.7.0 power_factor_l1 - power_factor measurement 0",
    "1:53.7.0 power_factor_l2 - power_factor measurement 0",
    "1:73.7.0 power_factor_l3 - power_factor measurement 0",
    # SML meters (docs/sml.md §5): EMH sends 15.7.0 (absolute sum) where others send
    # 16.7.0; EasyMeter, eBZ and ISKRA send power per phase in W.
    "1:15.7.0 power_abs W power measurement 0",
    "1:36.7.0 power_l1 W power measurement 0",
    "1:56.7.0 power_l2 W power measurement 0",
    "1:76.7.0 power_l3 W power measurement 0",
    # Phase angles (Holley, unit °): U-L2 and U-L3 against U-L1, each current against
    # its voltage, by OBIS's C=81 numbering; no Home Assistant class fits.
    "1:81.7.1 angle_u_l2 ° - - 1",
    "1:81.7.2 angle_u_l3 ° - - 1",
    "1:81.7.4 angle_i_l1 ° - - 1",
    "1:81.7.15 angle_i_l2 ° - - 1",
    "1:81.7.26 angle_i_l3 ° - - 1",
    "1:96.50.1 manufacturer - - - 6",
    "1:0.0.9 device_id - - - 6",
    "1:96.5.0 status_word - - - 6",
    "1:96.90.2 firmware_checksum - - - 6",
    "1:0.0.0 meter_id - - - 6",
    "1:C.1.0 serial - - - 6",
    "1:96.1.0 serial - - - 6",
    "1:0.2.0 firmware - - - 6",
    "1:0.2.8 p1_version - - - 6",
    "1:0.9.1 time - - - 6",
    "1:0.9.2 date - - - 6",
    "1:F.F error_register - - - 6",
    "0:96.1.1 equipment_id - - - 6",
    "0:96.1.4 p1_version_be - - - 6",
    "0:1.0.0 timestamp - timestamp - 6",
    "0:96.14.0 tariff - - - 4",
    # Gas on M-Bus channel B. DSMR also puts water meters there (device type
    # 0-n:24.1.0 = 7): the catalogue cannot tell, gas is the common case.
    "0:24.2.1 gas_volume m3 gas total_increasing 0",
    "0:24.3.0 gas_volume m3 gas total_increasing 0",
    "8:1.0.0 water_volume m3 water total_increasing 0",
    # Heat meters (Ultraheat UH50/T550, Multical 66C) write no medium.
    "6:6.8 heat_energy GJ energy total_increasing 0",
    "6:6.26 volume m3 water total_increasing 0",
    "6:6.6 max_power kW power measurement 0",
    "6:6.33 max_flow m3ph volume_flow_rate measurement 0",
    "6:9.4 max_temp_flow&max_temp_return C temperature measurement 0",
    "6:6.31 operating_hours h duration total_increasing 0",
    "6:6.32 fault_hours h duration total_increasing 2",
    "6:9.31 flow_hours h duration total_increasing 0",
    "6:9.21 ownership_number - - - 6",
    "6:9.20 device_number - - - 6",
    "6:9.36 meter_datetime - - - 6",
    "6:0.0 meter_id - - - 6",
    "6:F error_register - - - 6",
)


def split(obis):
    """(A, B, "C.D.E", F) of an id as written; None for a group not written."""
    a = b = f = None
    rest = obis
    i = rest.find(":")
    if i >= 0:
        a, _, b = rest[:i].partition("-")
        rest = rest[i + 1:]
    for i in range(len(rest)):
        if rest[i] == "*" or rest[i] == "&":
            f = rest[i + 1:]
            rest = rest[:i]
            break
    return a, b, rest, f


def _cde(cde):
    parts = cde.split(".")
    if len(parts) == 3 and parts[2] == "255":
        return parts[0] + "." + parts[1] + ".0"
    return cde


def base(obis):
    """The catalogue form of an id: "1-0:1.8.0*255" → "1.8.0", "6.8*01" → "6.8"."""
    return _cde(split(obis)[2])


def lookup(obis):
    """(medium, "C.D.E", key, unit, device_class, state_class, flags) of an id
    as written, or None."""
    a, _, cde, _ = split(obis)
    cde = _cde(cde)
    row = _find(a, cde)
    if row is None and cde.count(".") == 1:
        row = _find(a, cde + ".0")      # "C.1", "0.0.0" written as "0.0"
    if row is None:
        return None
    f = row.split(" ")
    key = f[1]
    if "&" in key:
        key = tuple(key.split("&"))
    return (row[0], f[0][2:], key, _none(f[2]), _none(f[3]), _none(f[4]), int(f[5]))


def _none(field):
    return None if field == "-" else field


def _find(a, cde):
    head = cde + " "
    for row in OBJECTS:
        if row.startswith(head, 2) and (a is None or a == row[0]):
            return row
    return None


def keys(obis, count):
    """One key (or None) per value of a data set with `count` values."""
    row = lookup(obis)
    out = [None] * count
    if row is None or count == 0:
        return out
    f = split(obis)[3]
    suffix = "" if f is None or f == "" or f == "255" else "_" + f
    key = row[2]
    if isinstance(key, tuple):
        for i in range(min(count, len(key))):
            out[i] = key[i] + suffix
    else:
        out[count - 1] = key + suffix
    return out


def wanted(obis, keep):
    """True when `keep` (catalogue ids, or None for all) asks for this id."""
    return keep is None or base(obis) in keep


# Where a meter writes its serial number, in the order they are trusted: the
# meter's own serial (C.1.0), its id (0.0.0, "0.0" on heat meters), the
# equipment id of DSMR (0-0:96.1.1, hex-encoded text) and 96.1.0 (docs/iec62056-21.md §8).
SERIAL_IDS = ("C.1.0", "0.0.0", "0.0", "96.1.0", "96.1.1", "C.1")


def key_classes(key):
    """(device_class, state_class, flags) of a key keys() made, or None when unknown.

    A previous-period key ("heat_energy_01") has its base key's classes; each
    name of a two-value row ("max_temp_flow") has the row's.
    """
    for row in OBJECTS:
        f = row.split(" ")
        names = f[1]
        for name in names.split("&") if "&" in names else (names,):
            if key == name or (key.startswith(name + "_") and _period(key, len(name) + 1)):
                return _none(f[3]), _none(f[4]), int(f[5])
    return None


def _period(key, start):
    # "_01", "_12", "_255": an F group; "energy_import_t1" is a key of its own.
    rest = key[start:]
    return rest.isdigit() if rest else False
