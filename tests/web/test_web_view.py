"""What a person sees of the reader's page at a laptop's and a phone's width, in a
real headless Chromium in a time zone of its own: times in local time, dates in
ISO order, no unit that is not one, Home Assistant's values and units (exact),
a chart whose labels are legible on a phone, heap figures that cannot
contradict each other, and sections to jump to and fold. One firmware on the
unix MicroPython port, reading the simulated Multical 21 and publishing to
Mosquitto, serves every test here."""

import json
import re
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from webhelp import VIEWPORTS, Reader, need_mosquitto, open_page

# Half an hour off UTC and ahead of it: a page that showed UTC, or only whole
# hours of offset, shows other digits.
TZ = "Asia/Kolkata"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@pytest.fixture(scope="module")
def served():
    need_mosquitto()
    r = Reader()
    try:
        r.start()
        r.wait_history(4)
        yield r
    finally:
        r.close()


@pytest.fixture(params=sorted(VIEWPORTS), ids=sorted(VIEWPORTS))
def view(request, served, browser):
    """The page at one width: (page, reader); no script error, nothing fetched elsewhere."""
    width, height = VIEWPORTS[request.param]
    page, errors, elsewhere = open_page(browser, served, width, height, TZ)
    page.wait_for_selector("section.meter svg.chart rect.bar")
    yield page, served
    page.context.close()
    assert not errors and not elsewhere, (errors, elsewhere)


def _local(t):
    return datetime.fromtimestamp(t, ZoneInfo(TZ))


def _rows(page):
    """{name: (value cell, unit cell, the meter's own line or None)} of the readings table."""
    rows = page.eval_on_selector_all("section.meter tr[data-name]", """rows => Object.fromEntries(rows.map(r => [
        r.dataset.name, [r.querySelector('td.v').textContent, r.querySelector('td.unit').textContent,
                         r.querySelector('.own') ? r.querySelector('.own').textContent : null]]))""")
    return {name: tuple(cells) for name, cells in rows.items()}


def _api_values(r):
    (meter,) = r.http.get("/api/readings").json()["meters"]
    return {v["name"]: v for v in meter["readings"]}


# --- 1. the log in local time ------------------------------------------------------

def test_log_lines_show_the_browsers_local_time(view):
    page, r = view
    page.click("#nav a[href='#log-section']")
    # What the page holds from /api/status and what it shows, in one moment (a refresh is synchronous).
    raw, epoch, shown = page.evaluate(
        "() => [S.status.log, S.status.log_epoch, document.querySelector('#log').textContent]")
    assert epoch == 1970                           # the unix port counts from 1970, the ESP32 from 2000
    assert raw and abs(int(raw[-1].split()[0]) - time.time()) < 120
    want = []
    for line in raw:
        stamp, rest = line.split(" ", 1)
        want.append(_local(int(stamp)).strftime("%Y-%m-%d %H:%M:%S") + "  " + rest)
    assert shown.split("\n") == want
    assert page.locator("#log").is_visible()
    assert not re.search(r"^\d{9,}", shown, re.M)          # no epoch seconds left


def test_a_log_line_from_before_the_clock_was_set_says_so(view):
    page, _ = view
    # The page's own function on lines an ESP32 writes: before NTP its clock
    # counts from 2000-01-01 at power-on; after, seconds since 2000.
    assert page.evaluate("logLine('123 W ntp: timed out', 2000)") == "clock not set, up 123 s  W ntp: timed out"
    after = 850000000
    assert page.evaluate("logLine('%d I app: x', 2000)" % after) == (
        _local(after + 946684800).strftime("%Y-%m-%d %H:%M:%S") + "  I app: x")
    assert page.evaluate("logLine('not a stamp', 1970)") == "not a stamp"


# --- 2. dates in ISO order, clocks as clocks, unambiguous chart dates --------------

def test_the_meters_date_and_clock_registers(view):
    page, r = view
    api = _api_values(r)
    assert api["date"]["unit"] == "yy:mm:dd" and api["clock"]["unit"] == "hh:mm:ss"
    yy, mm, dd = api["date"]["value"].split(":")
    rows = _rows(page)
    assert rows["date"] == ("2022-11-25", "", "meter: 22:11:25 yy:mm:dd")
    assert rows["date"][0] == "20%s-%s-%s" % (yy, mm, dd)
    value, unit, own = rows["clock"]
    assert re.fullmatch(r"\d\d:\d\d:\d\d", value) and unit == "" and own is None
    age = page.locator("section.meter .age").inner_text()
    m = re.fullmatch(r"Read \d+ s ago \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\)", age)
    assert m, age
    stamps = {_local(e["t"]).strftime("%Y-%m-%d %H:%M:%S") for e in r.http.get("/api/history").json()["entries"]}
    assert m.group(1) in stamps


def test_the_charts_time_labels_name_the_day_and_month(view):
    page, r = view
    labels = page.eval_on_selector_all("svg.chart text.axis", "ts => ts.map(t => t.textContent)")
    first, last = labels[-2:]
    entries = r.http.get("/api/history").json()["entries"]
    t0 = _local(min(e["t"] for e in entries))
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d\d:\d\d(:\d\d)?", first), labels
    assert first.startswith("%d %s %02d:%02d" % (t0.day, MONTHS[t0.month - 1], t0.hour, t0.minute)), (first, t0)
    assert re.fullmatch(r"(\d{1,2} [A-Z][a-z]{2} )?\d\d:\d\d(:\d\d)?", last), labels
    assert not any("/" in t for t in labels), labels
    title = page.locator("svg.chart rect.bar title").first.text_content()
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d\d:\d\d(:\d\d)?–.+: \d+\.\d+ m³", title), title


# --- 3. no "number" unit --------------------------------------------------------------

def test_no_unit_says_number(view):
    page, r = view
    api = _api_values(r)
    plain = [k for k, v in api.items() if v["unit"] == "number"]
    assert {"info", "hour_counter", "serial_number"} <= set(plain)      # what KMP units 0 and 51 decode to
    rows = _rows(page)
    for name in plain:
        assert rows[name][1] == "" and rows[name][2] is None, (name, rows[name])
    for name, (value, unit, own) in rows.items():
        assert unit != "number" and not (own or "").endswith(" number"), (name, unit, own)


# --- 4. the chart legible on a phone ----------------------------------------------------

def test_the_charts_labels_are_legible(view):
    page, _ = view
    sizes = page.eval_on_selector_all("svg.chart text.axis", """ts => ts.map(t => {
        const css = parseFloat(getComputedStyle(t).fontSize);
        const box = t.getBoundingClientRect(), svg = t.ownerSVGElement.getBoundingClientRect();
        // The size drawn: the CSS size times the drawing's scale on screen.
        return [css, css * t.getScreenCTM().a, box.left >= svg.left - 0.5 && box.right <= svg.right + 0.5];
    })""")
    assert len(sizes) == 5
    for css, drawn, inside in sizes:
        assert css >= 11 and drawn >= 11, sizes
        assert inside, sizes                     # no label cut at the drawing's edge


# --- 5. heap figures --------------------------------------------------------------------

def test_heap_figures_in_kb_that_cannot_contradict(view):
    page, _ = view
    page.click("#nav a[href='#reader-section']")
    # The figures shown and the reader's answer they came from, in one moment.
    cells, status = page.evaluate("""() => [Object.fromEntries([...document.querySelectorAll('#reader-diag > div')]
        .map(d => [d.querySelector('span').textContent, [d.lastChild.textContent, d.title]])), S.status.reader]""")
    figures = {}
    for label in ("Heap in use now", "Heap free", "Largest heap in use after a collection"):
        text, title = cells[label]
        m = re.fullmatch(r"(\d+\.\d) KB", text)
        assert m, (label, text)
        exact = int(re.fullmatch(r"(\d+) B", title).group(1))
        # The page rounds an exact half up (JavaScript's toFixed); Python's "%.1f" would round it
        # to even: 188672 B is 184.25 KB, shown 184.3.
        kb = (Decimal(exact) / 1024).quantize(Decimal("0.1"), ROUND_HALF_UP)
        assert text == "%s KB" % kb, (label, text, title)
        figures[label] = exact
    assert figures["Largest heap in use after a collection"] >= figures["Heap in use now"]
    assert not any("largest seen" in k or k == "Free heap" for k in cells), list(cells)
    assert figures["Heap in use now"] == status["heap_used"] and figures["Heap free"] == status["free_heap"]


# --- 6. sections to jump to, folded ---------------------------------------------------------

LINKS = {"Readings": "meters", "Chart": "chart-0", "Reader": "reader-section", "Log": "log-section",
         "Settings": "settings", "Update": "update-section"}


def _top(page, id_):
    return page.evaluate("id => document.getElementById(id).getBoundingClientRect().top", id_)


def test_the_readings_come_first_and_the_rest_is_folded(view):
    page, _ = view
    height = page.viewport_size["height"]
    table = page.locator("section.meter table.readings").bounding_box()
    assert table["y"] < height / 2                       # on the first screen
    for id_ in ("diag-0", "reader-section", "log-section", "settings", "update-section"):
        assert page.evaluate("id => document.getElementById(id).open", id_) is False, id_
        assert _top(page, id_) > table["y"] + table["height"]
    assert page.evaluate("document.getElementById('chart-0').open") is True
    # The page the new user measured was 3,300 px tall on a laptop and 4,500 px on a phone.
    assert page.evaluate("document.documentElement.scrollHeight") < 2 * height


def test_nav_links_open_and_jump_to_their_sections(view):
    page, _ = view
    nav = page.locator("#nav")
    assert nav.locator("a").all_inner_texts() == list(LINKS)
    nav_height = nav.bounding_box()["height"]
    assert nav_height < 60                           # one line of links, on a phone too
    for text, id_ in LINKS.items():
        if id_ == "meters":
            page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        else:
            page.evaluate("window.scrollTo(0, 0)")
        before = page.evaluate("window.scrollY")
        nav.get_by_text(text, exact=True).click()
        page.wait_for_function("y => window.scrollY !== y", arg=before, timeout=5000)
        top = _top(page, id_)
        assert 0 <= nav.bounding_box()["y"] < 2, text         # the nav stays at the top
        # Below the nav, not under it, and on screen (the last section may not reach the top).
        assert nav_height - 1 <= top < page.viewport_size["height"] - 40, (text, top)
        assert page.evaluate("id => { const e = document.getElementById(id); "
                             "return e.tagName !== 'DETAILS' || e.open; }", id_), text


def test_an_address_naming_a_section_opens_it(view, browser):
    page, r = view
    page.goto(r.url + "#reader-section")                       # the same page: the address changes
    page.locator("#reader-diag").wait_for()
    assert 0 < _top(page, "reader-section") < page.viewport_size["height"] / 2
    size = page.viewport_size
    fresh, errors, _ = open_page(browser, r, size["width"], size["height"], fragment="#log-section")
    fresh.locator("#log").wait_for()                            # opened as the page loaded
    assert 0 < _top(fresh, "log-section") < size["height"] / 2
    fresh.context.close()
    assert not errors, errors


def test_sections_fold_and_stay_as_left_across_refreshes(view):
    page, _ = view
    summary = page.locator("#reader-section > summary")
    summary.click()
    assert page.locator("#reader-diag").is_visible()
    summary.click()
    assert not page.locator("#reader-diag").is_visible()

    page.locator("#diag-0 > summary").click()
    page.locator("#chart-0 > summary").click()
    assert page.locator("section.meter .last-frame").is_visible()
    assert not page.locator("section.meter svg.chart").is_visible()
    # A refresh right after a click (before the "toggle" event) draws the fold as clicked.
    assert page.evaluate("""() => { document.querySelector('#diag-0 > summary').click(); render();
                                    return document.getElementById('diag-0').open; }""") is False
    page.locator("#diag-0 > summary").click()
    # The cards are drawn anew every 5 s: wait for a new one, which keeps what the user chose.
    page.evaluate("() => { window.oldCard = document.querySelector('section.meter'); }")
    page.wait_for_function("() => !document.body.contains(window.oldCard)", timeout=15000)
    assert page.locator("section.meter .last-frame").is_visible()
    assert not page.locator("section.meter svg.chart").is_visible()


# --- 7. Home Assistant's values and units ----------------------------------------------

def test_values_and_units_are_home_assistants_with_the_meters_own_beside(view):
    page, r = view
    api = _api_values(r)
    # The JSON keeps the meter's own value and unit; the reader adds Home Assistant's.
    assert (api["flow"]["value"], api["flow"]["unit"]) == ("420", "l/h")
    assert (api["flow"]["ha_value"], api["flow"]["ha_unit"], api["flow"]["ha_shift"]) == ("0.420", "m³/h", -3)
    rows = _rows(page)
    value, unit, own = rows["flow"]
    assert value == str(Decimal(api["flow"]["value"]).scaleb(-3)) == "0.420"     # exact: the point moved
    assert unit == "m³/h" and own == "meter: 420 l/h"
    assert page.locator("tr[data-name=flow] td.v").get_attribute("title") == "the meter sent 420 l/h"

    # Every unit on the page is the one Home Assistant was told in discovery (none: empty).
    recorder = r.rig.recorder
    discovered = {}
    for topic, payload in recorder.where("/config"):
        cfg = json.loads(payload)
        key = cfg["value_template"].split("value_json.")[-1].strip(" }")
        if cfg["state_topic"].endswith("/state"):
            discovered[key] = cfg.get("unit_of_measurement", "")
    assert set(rows) <= set(discovered), (sorted(rows), sorted(discovered))
    for name, (value, unit, own) in rows.items():
        assert unit == discovered[name], (name, unit, discovered[name])
    # And the values that do not change on the simulated meter read as in its state payload, digit for digit.
    state = recorder.where("/state")[-1][1]
    for name in ("flow", "temp_water", "temp_ambient", "serial_number"):
        assert re.search('"%s":"?%s[",}]' % (name, re.escape(rows[name][0])), state), (name, rows[name], state)


def test_the_chart_counts_in_home_assistants_unit(view):
    page, r = view
    api = _api_values(r)
    assert api["volume"]["ha_unit"] == "m³" and api["volume"]["ha_shift"] == 0
    axis = page.eval_on_selector_all("svg.chart text.axis", "ts => ts.map(t => t.textContent)")
    assert axis[2] == "m³", axis
    # The page's shift for a counter whose Home Assistant unit moves the point
    # ("m³ x10": one place): exact decimals, no float.
    assert page.evaluate("fmt(shifted(dec('0.022'), 1))") == "0.22"
    assert page.evaluate("fmt(shifted(dec('420'), -3))") == "0.420"
    assert page.evaluate("fmt(shifted(dec('12'), 2))") == "1200"


@pytest.fixture(scope="module")
def served_iec():
    """An IEC 62056-21 heat meter, which writes m3, m3ph and C and pads its digits with zeros."""
    need_mosquitto()
    r = Reader(meter="ultraheat-uh50")
    try:
        r.start()
        r.wait_history(2, timeout=90)
        yield r
    finally:
        r.close()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_an_iec_meters_units_read_as_in_home_assistant(served_iec, browser, size):
    r = served_iec
    page, errors, elsewhere = open_page(browser, r, *VIEWPORTS[size], TZ)
    page.wait_for_selector("section.meter tr[data-name=volume]")
    api = _api_values(r)
    rows = _rows(page)
    for name, want_unit in (("volume", "m³"), ("max_flow", "m³/h"), ("max_temp_flow", "°C"), ("heat_energy", "GJ")):
        value, unit, aside = rows[name]
        assert unit == want_unit and value == api[name]["ha_value"], (name, rows[name])
        # The same number without the meter's leading zeros: its own writing on hovering, not under the name.
        assert Decimal(value) == Decimal(api[name]["value"]) and aside is None, (name, rows[name])
        title = page.locator("tr[data-name=%s] td.v" % name).get_attribute("title")
        assert title == "the meter sent %s %s" % (api[name]["value"], api[name]["unit"]), (name, title)
    assert api["volume"]["unit"] == "m3" and api["max_temp_flow"]["unit"] == "C"
    page.context.close()
    assert not errors and not elsewhere, (errors, elsewhere)
