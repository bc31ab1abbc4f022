"""The page in setup mode (first boot, no config.json) at a laptop's and a
phone's width: the settings alone, open, with no nav to sections that setup
does not have."""

import pytest

from test_web_portal import first_boot  # noqa: F401 (the fixture: the firmware on an empty flash)
from webhelp import VIEWPORTS, Http


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_setup_shows_the_settings_open_and_no_nav(first_boot, browser, size):  # noqa: F811
    rig, fw, ports = first_boot
    http = Http(ports["web"])
    http.wait_up(proc=fw.proc)
    width, height = VIEWPORTS[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(http.base + "/")
    page.locator("#setup-banner").wait_for()
    page.locator('[data-path="wifi.ssid"]').wait_for()        # visible: the settings are open
    assert page.evaluate("document.getElementById('settings').open") is True
    for hidden in ("#nav", "#reader-section", "#log-section", "#update-section"):
        assert not page.locator(hidden).is_visible(), hidden
    assert page.locator("#settings").bounding_box()["y"] < height
    page.close()
    assert not errors, errors
