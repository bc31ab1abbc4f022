"""The device code against the real ESP32 firmware's API (tools/typecheck/device_types.py),
and the fallbacks hw_esp32 keeps for what a board may lack, run on unix MicroPython."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "typecheck"))
import device_types  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def _need_stubs(board):
    try:
        import mypy  # noqa: F401
    except ImportError:
        why = "mypy is not installed: run tools/setup.sh (the dev extra has it)"
    else:
        if device_types.installed(board):
            return
        why = "the %s stubs are not installed: run tools/setup.sh --test" % board
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.mark.parametrize("board", sorted(device_types.BOARDS))
def test_device_code_uses_only_what_the_board_offers(board):
    _need_stubs(board)
    status, report = device_types.check(board)
    assert status == 0, "mypy against the %s firmware's stubs:\n%s" % (board, report)
    checked = int(re.search(r"no issues found in (\d+) source files", report).group(1))
    assert checked >= len(device_types.device_modules()) + 10     # firmware and lib/metereye both read


# hw is read as the board reads it: hw_esp32's names, not hw_unix's (AP_STATE).
# Each line that must be flagged ends in "# FLAGGED <what mypy says>", or
# "# FLAGGED[board,...] ..." when only those boards lack it. Unmarked lines must pass.
PROBE = '''
import hw
import machine
import network
import socket
import time


def probe():
    uart = machine.UART(1)
    uart.init(baudrate=1200, bits=8, parity=None, stop=2, tx=17, rx=16, rxbuf=256, timeout=0)
    uart.txdone()
    machine.WDT(timeout=60000).feed()
    machine.NoSuchThing()  # FLAGGED Module has no attribute "NoSuchThing"
    uart.bogus()  # FLAGGED "UART" has no attribute "bogus"
    uart.init(baudrate=1200, txdone=True)  # FLAGGED Unexpected keyword argument "txdone"
    wlan = network.WLAN(network.AP_IF)
    wlan.config(ssid="x", key="12345678", security=network.AUTH_WPA2_PSK)
    wlan.bogus_method()  # FLAGGED "WLAN" has no attribute "bogus_method"
    wlan.config(essid="x")  # FLAGGED Unexpected keyword argument "essid"
    socket.TCP_NODELAY
    socket.NO_SUCH_OPTION  # FLAGGED Module has no attribute "NO_SUCH_OPTION"
    time.ticks_ms() // 1000  # FLAGGED Unsupported operand types for //
    machine.DAC(machine.Pin(25))  # FLAGGED[esp32-c3,esp32-s3] Module has no attribute "DAC"
    hw.check_pin(hw.CHIP, 17, "tx")
    hw.AP_STATE  # FLAGGED Module has no attribute "AP_STATE"
'''


def _expected(board):
    """{line number: what mypy must say there} for `board`."""
    found = {}
    for n, line in enumerate(PROBE.splitlines(), 1):
        m = re.search(r"# FLAGGED(?:\[([^]]*)\])? (.*)", line)
        if m and (m.group(1) is None or board in m.group(1).split(",")):
            found[n] = m.group(2)
    return found


@pytest.mark.parametrize("board", sorted(device_types.BOARDS))
def test_a_probe_of_missing_names_is_flagged(board, tmp_path):
    """The same runner, given one more module that asks for what the firmware lacks, fails on
    each such line and only there: the check cannot pass by reading nothing."""
    _need_stubs(board)
    (tmp_path / "probe_device_api.py").write_text(PROBE)
    status, report = device_types.check(board, [str(tmp_path)], ["probe_device_api"])
    assert status != 0, report
    errors = {}
    for line in report.splitlines():
        m = re.match(r"(.+?):(\d+): error: (.*)", line)
        if m:
            assert m.group(1).endswith("probe_device_api.py"), "outside the probe: " + line
            errors.setdefault(int(m.group(2)), []).append(m.group(3))
    expected = _expected(board)
    assert sorted(errors) == sorted(expected), report
    for n, what in expected.items():
        assert any(what in e for e in errors[n]), (n, what, errors[n])


def test_every_type_ignore_names_its_code_and_why():
    """An ignore hides one named error, and a comment on its line or the line above says why."""
    seen = 0
    for top in ("firmware", "lib"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                lines = open(os.path.join(folder, name), encoding="utf-8").read().splitlines()
                for i, line in enumerate(lines):
                    if "type: ignore" not in line:
                        continue
                    seen += 1
                    where = "%s:%d" % (name, i + 1)
                    m = re.search(r"# type: ignore\[[a-z-]+(?:, *[a-z-]+)*\](.*)", line)
                    assert m, where + ": name the error code"
                    explained = "#" in m.group(1) or (i > 0 and lines[i - 1].strip().startswith("#"))
                    assert explained, where + ": say why on the line above"
    assert seen > 0


def _on_micropython(script):
    """Run `script` on unix MicroPython with the device's modules on its path; its output."""
    env = dict(os.environ, MICROPYPATH=os.pathsep.join(
        [".frozen", os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]))
    run = subprocess.run([MICROPYTHON, "-c", textwrap.dedent(script)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_tcp_nodelay_left_unset_where_the_socket_module_lacks_it():
    """hw_esp32 asks for TCP_NODELAY only where socket names it (older ports warn on unknown
    options); unix MicroPython's socket is such a module, so the fallback runs for real."""
    out = _on_micropython("""
        import socket
        import hw_esp32
        print(hasattr(socket, "TCP_NODELAY"), hw_esp32.TCP_NODELAY)
    """)
    assert out.split() == ["False", "None"], out


def test_chips_are_told_apart_by_the_name_micropython_reports():
    out = _on_micropython("""
        import hw_esp32
        for text in ("Generic ESP32 module with ESP32", "Generic ESP32 module with SPIRAM with ESP32",
                     "ESP32C3 module with ESP32C3", "Generic ESP32S3 module with ESP32S3",
                     "Generic ESP32S3 module with ESP32-S3", "linux [GCC 14.2.1] version"):
            print(hw_esp32.chip_name(text))
    """)
    assert out.splitlines() == ["ESP32", "ESP32", "ESP32C3", "ESP32S3", "ESP32S3",
                                "LINUX [GCC 14.2.1] VERSION"], out


def test_board_pins_refused_where_the_chip_lacks_them():
    """The default wiring (UART2 TX17/RX16, wake GPIO25) holds on an ESP32; on a C3 (UART1 only,
    GPIO12-17 the flash, no GPIO25) and an S3 (no GPIO25) the setting to change is named."""
    out = _on_micropython("""
        import hw_esp32

        def refused(check, *args, **kw):
            try:
                check(*args, **kw)
            except hw_esp32.BoardError as e:
                return str(e)
            return "accepted"

        for chip in ("ESP32", "ESP32C3", "ESP32S3", "ESP32C6"):
            print(chip, "|", refused(hw_esp32.check_uart, chip, 2),
                  "|", refused(hw_esp32.check_pin, chip, 17, "tx"),
                  "|", refused(hw_esp32.check_pin, chip, 16, "rx", output=False),
                  "|", refused(hw_esp32.check_pin, chip, 25, "wake.pin"))
        print("input-only", "|", refused(hw_esp32.check_pin, "ESP32", 35, "tx"),
              "|", refused(hw_esp32.check_pin, "ESP32", 35, "rx", output=False))
        print("c3-head", "|", refused(hw_esp32.check_uart, "ESP32C3", 1),
              "|", refused(hw_esp32.check_pin, "ESP32C3", 4, "tx"),
              "|", refused(hw_esp32.check_pin, "ESP32C3", 5, "rx", output=False))
        for chip, row in sorted(hw_esp32._CHIPS.items()):
            uarts, usable, input_only, button, led = row
            for pin in (button, led):
                if pin is not None:
                    hw_esp32.check_pin(chip, pin, "button or LED")
    """)
    rows = {line.split(" | ")[0]: line.split(" | ")[1:] for line in out.splitlines()}
    assert rows["ESP32"] == ["accepted"] * 4
    c3 = rows["ESP32C3"]
    assert c3[0] == "UART2 is not free for a head on the ESP32C3 (free: UART1): set the meter's uart"
    assert c3[1] == "GPIO17 cannot be used on the ESP32C3 (usable: 0-10): set the meter's tx"
    assert c3[2].startswith("GPIO16 cannot be used") and c3[2].endswith("set the meter's rx")
    assert c3[3].startswith("GPIO25 cannot be used") and c3[3].endswith("set the meter's wake.pin")
    assert rows["ESP32S3"][:3] == ["accepted"] * 3
    assert rows["ESP32S3"][3] == ("GPIO25 cannot be used on the ESP32S3 (usable: 0-18 21 38-42 45-48): "
                                  "set the meter's wake.pin")
    assert rows["ESP32C6"] == ["accepted"] * 4          # a chip not in the table: machine decides
    assert rows["input-only"] == ["GPIO35 is input only on the ESP32: set the meter's tx to another pin",
                                  "accepted"]
    assert rows["c3-head"] == ["accepted"] * 3


def test_a_pin_the_chip_lacks_fails_the_session_not_the_start():
    """Uart and Wake are made when a meter's reader starts; a bad pin must not stop the reader
    there (main() would restart the board over and over), only in the session that uses it."""
    out = _on_micropython("""
        import asyncio
        import hw_esp32
        hw_esp32.CHIP = "ESP32S3"
        wake = hw_esp32.open_wake({"pin": 25, "pulse_ms": 10})
        print("made")
        try:
            asyncio.run(wake.pulse())
        except hw_esp32.BoardError as e:
            print("pulse:", e)
        hw_esp32.CHIP = "ESP32C3"
        try:
            hw_esp32.open_uart({"uart": 2, "tx": 17, "rx": 16})
        except hw_esp32.BoardError as e:
            print("uart:", e)
        led = hw_esp32.Led(None)
        led.set(True)
        print("button", hw_esp32.button_held(None))
    """)
    assert out.splitlines() == [
        "made",
        "pulse: GPIO25 cannot be used on the ESP32S3 (usable: 0-18 21 38-42 45-48): set the meter's wake.pin",
        "uart: UART2 is not free for a head on the ESP32C3 (free: UART1): set the meter's uart",
        "button False",
    ]
