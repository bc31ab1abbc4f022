"""enclosure/README.md and circuit.md agree with the sources and with the firmware's default pins."""

import json
import re

import enclosure_geometry as geo

BUILD = geo.load_build()
README = (geo.ENCLOSURE / "README.md").read_text(encoding="utf-8")
CIRCUIT = (geo.ENCLOSURE / "circuit.md").read_text(encoding="utf-8")

# The firmware's default pins: the circuit and the firmware must agree on them.
FIRMWARE_PINS = {
    "IR TX, head 1 (UART2 TX)": 17,
    "IR RX, head 1 (UART2 RX)": 16,
    "Wake coil gate": 25,
    "Status LED": 2,
    "Button (BOOT, active low)": 0,
    "IR TX, head 2 (UART1 TX)": 4,
    "IR RX, head 2 (UART1 RX)": 5,
}


def table_rows(text, first_cell_pattern):
    return re.findall(r"^\| " + first_cell_pattern + r" \| ([^|]+?) \|", text, flags=re.MULTILINE)


def test_readme_lists_every_uncertain_parameter_with_its_current_value():
    listed = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", README, flags=re.MULTILINE))
    params = BUILD.read_params()
    for name, value in listed.items():
        assert name in params, f"README lists {name}, which params.scad does not have"
        assert json.loads(value) == params[name], f"README says {name} = {value}, params.scad {params[name]}"
    text = BUILD.PARAMS_FILE.read_text(encoding="utf-8")
    uncertain = set(re.findall(r"^(\w+)\s*=.*UNCERTAIN", text, flags=re.MULTILINE))
    assert uncertain, "params.scad marks nothing UNCERTAIN"
    assert uncertain <= set(listed), f"not in the README's table: {sorted(uncertain - set(listed))}"


def test_readme_shows_exactly_the_exported_pictures():
    shown = set(re.findall(r"\]\(export/([\w-]+\.png)\)", README))
    assert shown == {p.name for p in geo.EXPORTS.glob("*.png")}


def test_wiring_table_uses_the_firmware_default_pins():
    for signal, pin in FIRMWARE_PINS.items():
        cells = re.findall(r"^\| " + re.escape(signal) + r" \| GPIO(\d+) \|", CIRCUIT, flags=re.MULTILINE)
        assert cells == [str(pin)], f"{signal}: circuit.md says GPIO{cells}, firmware default is GPIO{pin}"
    drawn = set(map(int, re.findall(r"GPIO(\d+)", CIRCUIT.split("## Schematic", 1)[1].split("## Parts", 1)[0])))
    assert {17, 16, 25, 2, 0} <= drawn, "the schematic does not draw every head-1 pin"
