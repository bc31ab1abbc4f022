"""The ESP32 side of the hardware seam: machine.UART, pins, WDT, WiFi, NTP.

Default wiring on an ESP32 (README, "Put it on a real ESP32"): IR TX GPIO17 /
RX GPIO16 on UART2, a second head on UART1 TX GPIO4 / RX GPIO5, wake coil gate
GPIO25, status LED GPIO2, button GPIO0 (BOOT, active low). The ESP32-C3 and
-S3 lack some of these: _CHIPS says what each offers, and a head or wake pin
the chip lacks is refused with a BoardError that names the setting to change.

Every module, function and constant used here is in the ESP32_GENERIC, -C3 and
-S3 firmware's type stubs (tools/typecheck/device_types.py checks it).
"""

import gc
import sys
import time

import asyncio
import machine

PLATFORM = "esp32"

# What each chip offers a reader, by the MCU name MicroPython reports: the UARTs
# free for an optical head (UART0 is the console), the GPIOs a head or the wake
# coil may use (not the SPI flash's or PSRAM's, the console's or USB's), those
# of them that are inputs only, the BOOT button, and a plain status LED (None:
# the dev boards carry only an addressable one). From Espressif's datasheets'
# pin lists; S3 leaves out GPIO33-37, the octal PSRAM's on -R8 modules.
_CHIPS = {
    "ESP32": ((1, 2), "0 2 4 5 12-19 21-23 25-27 32-39", "34-39", 0, 2),
    "ESP32C3": ((1,), "0-10", "", 9, None),
    "ESP32S3": ((1, 2), "0-18 21 38-42 45-48", "", 0, 2),
}
_UNKNOWN_CHIP = (None, None, "", None, None)   # no checks: machine's own errors apply


class BoardError(ValueError):
    """The configuration asks for a UART or GPIO that this chip lacks or keeps for itself."""


def chip_name(machine_text):
    """The chip in sys.implementation._machine, "Generic ESP32S3 module with ESP32-S3": "ESP32S3"."""
    return machine_text.rpartition(" with ")[2].replace("-", "").upper()


CHIP = chip_name(sys.implementation._machine)
BUTTON_PIN, LED_PIN = _CHIPS.get(CHIP, _UNKNOWN_CHIP)[3:]


def _listed(pin, gpios):
    """Whether `pin` is in a list such as "0 2 12-19"."""
    for part in gpios.split():
        lo, _, hi = part.partition("-")
        if int(lo) <= pin <= int(hi or lo):
            return True
    return False


def check_uart(chip, n):
    """Refuse a UART that `chip` lacks or keeps for its console."""
    uarts = _CHIPS.get(chip, _UNKNOWN_CHIP)[0]
    if uarts is not None and n not in uarts:
        raise BoardError("UART%d is not free for a head on the %s (free: %s): set the meter's uart"
                         % (n, chip, ", ".join("UART%d" % u for u in uarts)))


def check_pin(chip, pin, setting, output=True):
    """Refuse a GPIO that `chip` lacks or keeps for itself; `setting` names the config key."""
    _, usable, input_only, _, _ = _CHIPS.get(chip, _UNKNOWN_CHIP)
    if usable is None:
        return
    if not _listed(pin, usable):
        raise BoardError("GPIO%d cannot be used on the %s (usable: %s): set the meter's %s"
                         % (pin, chip, usable, setting))
    if output and _listed(pin, input_only):
        raise BoardError("GPIO%d is input only on the %s: set the meter's %s to another pin"
                         % (pin, chip, setting))


def _nodelay():
    # Only where the socket module names the option: an older esp32 port prints a
    # warning for any option it does not know (UNCERTAIN which versions know it).
    import socket
    if hasattr(socket, "TCP_NODELAY"):
        return socket.IPPROTO_TCP, socket.TCP_NODELAY
    return None


TCP_NODELAY = _nodelay()        # (level, option) that turns Nagle's algorithm off, or None
_PARITY = {"N": None, "E": 0, "O": 1}
# Embedded ports count time from 2000-01-01 (MicroPython docs, time.time);
# asked rather than assumed, in case a later release moves to 1970.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_clock_ok = False


class Uart:
    """One optical head on a hardware UART."""

    RX_BUFFER = 1024      # a 1200 Bd answer is <200 B; IEC readouts stream through it

    def __init__(self, spec):
        self.spec = spec
        self.n = spec.get("uart", 2)
        self.tx = spec.get("tx", 17)
        self.rx = spec.get("rx", 16)
        check_uart(CHIP, self.n)
        check_pin(CHIP, self.tx, "tx")
        check_pin(CHIP, self.rx, "rx", output=False)
        self.baud = None
        self.framing = None
        self._uart = machine.UART(self.n)
        self.configure(1200, "8N2")

    def configure(self, baud, framing):
        if (baud, framing) == (self.baud, self.framing):
            return
        s = self.spec
        invert = 0
        if s.get("invert_tx"):
            invert |= machine.UART.INV_TX
        if s.get("invert_rx"):
            invert |= machine.UART.INV_RX
        # The ESP32 counts the parity bit into `bits`: 7E1 is bits=7, parity=0.
        self._uart.init(baudrate=baud, bits=int(framing[0]), parity=_PARITY[framing[1]],
                        stop=int(framing[2]), tx=self.tx, rx=self.rx,
                        rxbuf=self.RX_BUFFER, timeout=0, invert=invert)
        self.baud, self.framing = baud, framing

    def write(self, data):
        self._uart.write(data)

    async def drain(self):
        """Wait until the last stop bit has left: the IEC baud switch depends on it."""
        while not self._uart.txdone():
            await asyncio.sleep_ms(2)

    def read(self):
        data = self._uart.read()
        if data and self.framing and self.framing[0] == "7":
            data = bytes(b & 0x7F for b in data)
        return data

    def close(self):
        self._uart.deinit()


class Wake:
    """A logic-level MOSFET driving the wake coil: a pulse re-applies the field.

    The pin is claimed at the first pulse, inside a session, so a pin the chip
    lacks fails that meter's sessions with a BoardError the log shows, instead
    of the whole reader at start-up.
    """

    def __init__(self, spec):
        self.pin_number = spec.get("pin", 25)
        self.pin = None
        self.pulse_ms = spec.get("pulse_ms", 300)
        self.pulses = 0

    async def pulse(self):
        if self.pin is None:
            check_pin(CHIP, self.pin_number, "wake.pin")
            self.pin = machine.Pin(self.pin_number, machine.Pin.OUT, value=0)
        self.pin.value(1)
        await asyncio.sleep_ms(self.pulse_ms)
        self.pin.value(0)
        self.pulses += 1


class Led:
    """The status LED; on a chip without a plain one (LED_PIN None) it stays dark."""

    def __init__(self, pin=LED_PIN):
        self.pin = None if pin is None else machine.Pin(pin, machine.Pin.OUT, value=0)

    def set(self, on):
        if self.pin is not None:
            self.pin.value(1 if on else 0)


def button_held(pin=BUTTON_PIN, window_ms=2000):
    """BOOT pressed within 2 s of start-up (the LED blinks meanwhile): the safe-boot escape.

    Held *through* reset it would enter the ROM bootloader instead, so the
    window opens once MicroPython runs. A chip whose button is not known has none.
    """
    if pin is None:
        return False
    button = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)
    led = Led()
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < window_ms:
        led.set((time.ticks_diff(time.ticks_ms(), start) // 100) % 2)
        if button.value() == 0:
            led.set(True)
            return True
        time.sleep_ms(20)
    led.set(False)
    return False


class Watchdog:
    def __init__(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        self._wdt.feed()


_wlan = None


async def wifi_connect(cfg, log):
    """Join the configured network; the address, or None after 30 s."""
    global _wlan
    import network
    _wlan = network.WLAN(network.STA_IF)
    _wlan.active(True)
    if not _wlan.isconnected():
        _wlan.connect(cfg["ssid"], cfg["password"])
        for _ in range(300):
            if _wlan.isconnected():
                break
            await asyncio.sleep_ms(100)
    if not _wlan.isconnected():
        log.warn("wifi", "could not join", cfg["ssid"])
        return None
    return _wlan.ifconfig()[0]


def wifi_connected():
    return _wlan is not None and _wlan.isconnected()


def wifi_rssi():
    try:
        return _wlan.status("rssi") if wifi_connected() else None
    except Exception:
        return None


def clock_set():
    return _clock_ok


async def sync_clock(log):
    """NTP once WiFi is up; readings taken before are stamped when this succeeds."""
    global _clock_ok
    try:
        import ntptime
        ntptime.settime()      # blocks up to ~1 s: acceptable once an hour
        _clock_ok = True
    except Exception as e:
        log.warn("ntp", e)
    return _clock_ok


def unix_time():
    return time.time() + _EPOCH_OFFSET


def free_heap():
    return gc.mem_free()


def reset(reason):
    print("metereye: restarting:", reason)
    time.sleep_ms(200)
    machine.reset()


def unique_id():
    return "".join("%02x" % b for b in machine.unique_id()[-3:])


def open_uart(spec):
    return Uart(spec)


def open_wake(spec):
    return Wake(spec) if spec and "pin" in spec else None


# --- the setup access point (portal.py) and the servers' address -------------
LISTEN_HOST = "0.0.0.0"
PORTAL_PORT = 80
PORTAL_DNS_PORT = 53      # every name answered with the AP's address: a captive portal
_ap = None


def ap_open(ssid, password):
    """Open the reader's own WPA2 access point; the address it serves on (192.168.4.1)."""
    global _ap
    import network
    _ap = network.WLAN(network.AP_IF)
    _ap.active(True)
    # The names MicroPython documents (micropython/micropython:docs/library/network.rst, config);
    # essid/password/authmode are older aliases the stubs do not list.
    _ap.config(ssid=ssid, key=password, security=network.AUTH_WPA2_PSK)
    return _ap.ifconfig()[0]


def ap_close():
    if _ap is not None:
        _ap.active(False)
