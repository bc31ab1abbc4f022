"""The reader's page in a real headless Chromium, served by the firmware on the
unix MicroPython port while it reads the simulated Multical 21 and publishes
to Mosquitto."""

import json
import re
import time
from decimal import Decimal

from webhelp import SECRETS, VIEWPORTS, shot

from metereye.config import validate
from metereye.echo import ADVICE
from metereye.errors import ConfigError


def _open(browser, r, width=1000, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Nothing may be fetched from anywhere but the reader (it may have no internet).
    elsewhere = []
    page.on("request", lambda req: None if req.url.startswith(r.http.base) or req.url.startswith("data:")
            else elsewhere.append(req.url))
    page.goto(r.url)
    return page, errors, elsewhere


def test_page_shows_exact_readings_identity_state_chart_and_diagnostics(reader, browser, tmp_path):
    r = reader()
    r.wait_history(4)
    page, errors, elsewhere = _open(browser, r, *VIEWPORTS["desktop"])
    page.wait_for_selector("section.meter svg.chart rect.bar")
    card = page.locator("section.meter")

    assert card.locator("h2").first.inner_text() == "Kamstrup Multical 21 water meter"
    ident = card.locator(".ident").inner_text()
    assert "Kamstrup" in ident and "multical21" in ident
    assert card.locator(".serial").inner_text() == "75749993"

    state = card.locator(".state")
    assert state.get_attribute("data-state") == "ok"
    assert "Reading normally" in state.inner_text()

    # The volume as the meter sent it: three decimals, its unit (the meter's and
    # Home Assistant's), and one of the readings the reader kept (exact strings, no float between).
    row = card.locator("tr[data-name=volume]")
    shown = row.locator("td.v").inner_text()
    assert re.fullmatch(r"\d+\.\d{3}", shown), shown
    assert row.locator("td.unit").inner_text() == "m³"
    kept = [e["values"]["volume"] for e in r.http.get("/api/history").json()["entries"]]
    assert shown in kept, (shown, kept[-3:])
    assert re.fullmatch(r"Read \d+ s ago \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)", card.locator(".age").inner_text())
    assert card.locator("tr[data-name=flow] td.unit").inner_text() == "m³/h"     # as Home Assistant shows it

    # Each bar is the exact difference of two consecutive kept volumes.
    meter_id = card.get_attribute("data-meter")
    entries = r.http.get("/api/history?meter=" + meter_id).json()["entries"]
    assert entries and all(e["meter"] == meter_id for e in entries)
    volumes = [Decimal(e["values"]["volume"]) for e in entries]
    deltas = {str(b - a) for a, b in zip(volumes, volumes[1:])}
    bars = card.locator("svg.chart rect.bar")
    assert bars.count() >= 3
    for i in range(bars.count()):
        assert bars.nth(i).get_attribute("data-delta") in deltas
        assert bars.nth(i).locator("title").text_content().endswith(" m³")
        assert float(bars.nth(i).get_attribute("height")) > 0

    shot(page, "page.png", tmp_path)         # as it opens: the readings, the rest folded

    card.locator("#diag-0 > summary").click()
    frame = card.locator(".last-frame").inner_text()
    assert re.fullmatch(r"([0-9A-F]{2} )+[0-9A-F]{2}", frame) and "3F 10" in frame
    diag = card.locator(".grid").inner_text()
    assert re.search(r"Reads today / budget\s+\d+ / 1440", diag)
    assert re.search(r"Errors\s+0", diag)
    page.click("#nav a[href='#reader-section']")
    reader_diag = page.locator("#reader-diag").inner_text()
    assert re.search(r"Heap free\s+\d+\.\d KB", reader_diag) and "WiFi signal" in reader_diag
    assert re.search(r"Uptime\s+\d+ s", reader_diag)
    assert re.search(r"MQTT\s+127\.0\.0\.1, connected", reader_diag)
    page.click("#nav a[href='#log-section']")
    assert "read 11 values" in page.locator("#log").inner_text()

    phone, errors_phone, elsewhere_phone = _open(browser, r, *VIEWPORTS["phone"])   # on the reader's WiFi
    phone.wait_for_selector("section.meter svg.chart rect.bar")
    shot(phone, "page-phone.png", tmp_path)
    assert not errors + errors_phone and not elsewhere + elsewhere_phone, (errors, elsewhere)


def test_echo_test_and_read_now_buttons(reader, browser):
    r = reader()
    r.wait_history(1)
    page, errors, _ = _open(browser, r)
    page.click("section.meter button.echo-test")
    result = page.locator(".result[data-kind=echo]")
    result.filter(has_text="Echo test: echo.").wait_for(timeout=20000)
    assert ADVICE["echo"] in result.inner_text()
    assert r.status()["meters"][0]["echo"] == "echo"

    before = r.status()["meters"][0]["sessions_today"]
    page.click("section.meter button.read-now")
    page.locator(".result[data-kind=read]").filter(has_text="Reading now.").wait_for(timeout=10000)
    time.sleep(2)
    assert r.status()["meters"][0]["sessions_today"] > before
    assert not errors, errors


def test_read_now_is_refused_over_budget_and_the_page_says_why(reader, browser):
    r = reader(budget=2)
    end = time.monotonic() + 30
    while r.status()["meters"][0]["sessions_today"] < 2 and time.monotonic() < end:
        time.sleep(0.5)
    time.sleep(4)       # the next due read finds the budget spent
    answer = r.http.post("/api/read", {})
    assert answer.status == 429
    assert answer.json()["meters"][0]["why"] == "over_budget"
    page, errors, _ = _open(browser, r)
    card = page.locator("section.meter")
    card.locator(".state[data-state=over_budget]").wait_for(timeout=10000)
    assert "Today's reads are used up" in card.locator(".state").inner_text()
    assert "2 of 2 reads today" in card.locator(".state").inner_text()
    page.click("section.meter button.read-now")
    refused = page.locator(".result[data-kind=read]")
    refused.filter(has_text="Not read:").wait_for(timeout=10000)
    assert "today's 2 reads are used up" in refused.inner_text()
    assert not errors, errors


def _validator_says(cfg_change):
    try:
        validate(cfg_change)
    except ConfigError as e:
        return e.args[0], e.args[1]
    raise AssertionError("the validator accepted it")


def test_a_setting_changed_with_the_password_is_applied_without_a_reboot(reader, browser, tmp_path):
    r = reader()
    r.wait_history(1)
    before = open(r.rig.flash + "/config.json").read()
    page, errors, _ = _open(browser, r)
    page.locator('[data-path="mqtt.topic_prefix"]').wait_for(state="attached")
    page.click("#nav a[href='#settings']")
    prefix = page.locator('[data-path="mqtt.topic_prefix"]')
    prefix.wait_for()
    assert prefix.input_value() == "metereye"
    interval = page.locator('[data-path="meters[0].interval_s"]')
    assert interval.input_value() == "3"
    prefix.fill("pagetest")

    page.click("#save")                                       # no password
    assert page.locator("[data-err=auth]").inner_text() == "Needed to save."

    page.fill("#auth", "not-the-password")
    page.click("#save")
    page.locator("[data-err=auth]").filter(has_text="Wrong password.").wait_for(timeout=10000)

    # The validator's own message, next to the field it is about.
    interval.fill("1")
    page.fill("#auth", SECRETS["web"])
    page.click("#save")
    path, why = _validator_says({"test_intervals": True, "meters": [{"model": "multical21", "interval_s": 1}]})
    assert path == "meters[0].interval_s"
    page.locator('[data-err="meters[0].interval_s"]').filter(has_text=why).wait_for(timeout=10000)
    assert "invalid" in interval.get_attribute("class")
    shot(page.locator(".meter-fields"), "page-settings-error.png", tmp_path)
    assert open(r.rig.flash + "/config.json").read() == before     # nothing refused was saved

    interval.fill("4")
    page.fill("#auth", SECRETS["web"])
    page.click("#save")
    page.locator("#save-msg").filter(has_text="Saved").wait_for(timeout=10000)

    # Applied in the same process: the running reader reports it, and its MQTT topics moved.
    end = time.monotonic() + 30
    status = None
    while time.monotonic() < end:
        try:
            status = r.status()
            if status["reader"]["mqtt"]["topic_prefix"] == "pagetest":
                break
        except OSError:
            pass                                           # the server is between apps
        time.sleep(0.3)
    assert status["reader"]["mqtt"]["topic_prefix"] == "pagetest"
    assert status["meters"][0]["interval_s"] == 4
    r.rig.recorder.topics = ("pagetest/#",)
    r.rig.recorder.client.subscribe("pagetest/#", qos=1)
    r.rig.recorder.wait_for(lambda x: x.where("/state") and any(t.startswith("pagetest/test-reader/")
                                                                   for t, _ in x.where("/state")),
                            timeout=30, what="a reading under the new prefix")
    assert "configuration changed: starting again" in r.console()
    assert r.rig.firmware.proc.poll() is None                # no reboot: the same process
    saved = json.load(open(r.rig.flash + "/config.json"))
    assert saved["mqtt"]["topic_prefix"] == "pagetest" and saved["meters"][0]["interval_s"] == 4
    # Secrets left empty in the form were kept, not wiped.
    assert saved["wifi"]["password"] == SECRETS["wifi"]
    assert saved["mqtt"]["password"] == SECRETS["mqtt"]
    assert saved["web"]["password"] == SECRETS["web"]
    assert saved["meters"][0]["wake"]["file"] == r.rig.magnet
    assert not errors, errors


def test_changes_are_refused_without_the_password(reader):
    r = reader()
    before = open(r.rig.flash + "/config.json").read()
    change = {"mqtt": {"topic_prefix": "stolen"}}
    for password in (None, "", "wrong-password", SECRETS["wifi"]):
        answer = r.http.post("/api/config", change, password=password)
        assert answer.status == 401, password
        assert answer.headers.get("WWW-Authenticate", "").startswith("Basic ")
    assert open(r.rig.flash + "/config.json").read() == before
    assert r.status()["reader"]["mqtt"]["topic_prefix"] == "metereye"


def test_no_secret_in_the_page_or_any_answer(reader, browser):
    r = reader()
    r.wait_history(2)
    seen = {}
    for path in ("/", "/api/status", "/api/readings", "/api/history", "/api/config", "/api/models"):
        answer = r.http.get(path)
        assert answer.status == 200, path
        seen[path] = answer.text
    config = json.loads(seen["/api/config"])
    assert config["wifi"]["password"] == config["mqtt"]["password"] == config["web"]["password"] == "(set)"
    seen["401"] = r.http.post("/api/config", {}, password="wrong-password").text
    seen["400"] = r.http.post("/api/config", {"wifi": {"password": "short"}}, password=SECRETS["web"]).text
    assert json.loads(seen["400"])["path"] == "wifi.password"
    page, errors, _ = _open(browser, r)
    page.wait_for_selector("section.meter svg.chart")
    page.locator('[data-path="wifi.ssid"]').wait_for(state="attached")
    seen["page as rendered"] = page.content()
    seen["page's inputs"] = json.dumps(page.eval_on_selector_all("input", "els => els.map(e => e.value)"))
    seen["saved"] = r.http.post("/api/config", {"reader_id": "test-reader"}, password=SECRETS["web"]).text
    assert json.loads(seen["saved"])["saved"] is True
    for where, text in seen.items():
        for name, secret in SECRETS.items():
            assert secret not in text, "%s password in %s" % (name, where)
    assert not errors, errors
