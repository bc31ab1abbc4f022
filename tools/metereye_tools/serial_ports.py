"""`metereye ports`: the serial ports of this computer, with the USB-serial
adapters a board or an IR head usually sits behind marked as such. A leaf:
cliutil names the ports here in its message for a port that does not exist."""

# USB vendor:product ids of the adapters ESP32 boards and IR heads carry, as
# the chips' makers assign them (the Linux kernel's cp210x, ch341, ftdi_sio,
# pl2303 and cdc_acm drivers list the same ids).
ADAPTERS = (
    (0x10C4, 0xEA60, "CP210x USB-serial"),
    (0x10C4, 0xEA70, "CP2105 USB-serial"),
    (0x10C4, 0xEA71, "CP2108 USB-serial"),
    (0x1A86, 0x7523, "CH340 USB-serial"),
    (0x1A86, 0x5523, "CH341 USB-serial"),
    (0x1A86, 0x55D3, "CH343 USB-serial"),
    (0x1A86, 0x55D4, "CH9102 USB-serial"),
    (0x0403, 0x6001, "FTDI FT232R USB-serial"),
    (0x0403, 0x6010, "FTDI FT2232 USB-serial"),
    (0x0403, 0x6011, "FTDI FT4232 USB-serial"),
    (0x0403, 0x6014, "FTDI FT232H USB-serial"),
    (0x0403, 0x6015, "FTDI FT-X USB-serial"),
    (0x067B, 0x2303, "PL2303 USB-serial"),
    (0x067B, 0x23A3, "PL2303GC USB-serial"),
    (0x303A, 0x1001, "ESP32-S3/C3 native USB"),
    (0x303A, 0x0002, "ESP32-S2 native USB"),
)


def adapter(vid, pid):
    """The name of a known USB-serial adapter, or None."""
    for v, p, name in ADAPTERS:
        if (v, p) == (vid, pid):
            return name
    return None


def ports():
    """[(device, "VID:PID" or "", adapter name or None, description)], likely adapters first."""
    from serial.tools import list_ports
    found = []
    for p in list_ports.comports():
        ids = "%04X:%04X" % (p.vid, p.pid) if p.vid is not None else ""
        description = p.description if p.description and p.description != "n/a" else ""
        found.append((p.device, ids, adapter(p.vid, p.pid), description))
    found.sort(key=lambda row: (row[2] is None, row[0]))
    return found


def summary():
    """One sentence naming the ports that exist, for an error about one that does not."""
    found = ports()
    if not found:
        return "No serial port was found here: is the board or the head plugged in (and its cable one " \
               "that carries data)?"
    names = ["%s (%s)" % (dev, name) if name else dev for dev, _, name, _ in found]
    return "Serial ports here: %s (metereye ports describes them)." % ", ".join(names)


def print_ports():
    """The table `metereye ports` prints; how many ports it listed."""
    found = ports()
    if not found:
        print(summary())
        return 0
    width = max(len(row[0]) for row in found)
    for dev, ids, name, description in found:
        what = "%s: likely a board or an IR head" % name if name else (
            "USB device" if ids else "no USB device behind it (built in, or not connected)")
        print("%-*s  %-9s  %s%s" % (width, dev, ids or "-", what, "  (%s)" % description if description else ""))
    return len(found)
