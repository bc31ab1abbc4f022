"""The ESP32 side of the hardware seam: machine.UART, pins, WDT, WiFi, NTP.

Default wiring (enclosure/README.md): IR TX GPIO17 / RX GPIO16 on UART2, a
second head on UART1 TX GPIO4 / RX GPIO5, wake coil gate GPIO25, status LED
GPIO2, button GPIO0 (BOOT, active low).
"""

import gc
import time

import asyncio
import machine

PLATFORM = "esp32"


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
                        stop=int(framing[2]), tx=s.get("tx", 17), rx=s.get("rx", 16),
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
    """A logic-level MOSFET driving the wake coil: a pulse re-applies the field."""

    def __init__(self, spec):
        self.pin = machine.Pin(spec.get("pin", 25), machine.Pin.OUT, value=0)
        self.pulse_ms = spec.get("pulse_ms", 300)
        self.pulses = 0

    async def pulse(self):
        self.pin.value(1)
        await asyncio.sleep_ms(self.pulse_ms)
        self.pin.value(0)
        self.pulses += 1


class Led:
    def __init__(self, pin=2):
        self.pin = machine.Pin(pin, machine.Pin.OUT, value=0)

    def set(self, on):
        self.pin.value(1 if on else 0)


def button_held(pin=0, window_ms=2000):
    """BOOT pressed within 2 s of start-up (the LED blinks meanwhile): the safe-boot escape.

    Held *through* reset it would enter the ROM bootloader instead, so the
    window opens once MicroPython runs.
    """
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
    _ap.config(essid=ssid, password=password, authmode=network.AUTH_WPA2_PSK)
    return _ap.ifconfig()[0]


def ap_close():
    if _ap is not None:
        _ap.active(False)
