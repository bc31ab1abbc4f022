"""First boot with no config.json: the reader's own access point (on the unix
port, the stand-in: ap.json in the flash folder and a server on the loopback),
the settings page there, the password printed on the console, then the reader
joins the configured network and reads."""

import json
import os
import re
import socket
import time

import pytest

from fwhelp import Rig, need_mosquitto
from metereye_tools.unixport import Firmware
from webhelp import SECRETS, Http, free_port, shot


@pytest.fixture
def first_boot(request):
    """A simulator and a broker, and the firmware started on an empty flash."""
    need_mosquitto()
    rig = Rig(wake=False)
    ports = {"web": free_port(), "dns": free_port(socket.SOCK_DGRAM)}
    fw = Firmware(rig.flash, env={"METEREYE_PORTAL_PORT": str(ports["web"]),
                                  "METEREYE_PORTAL_DNS_PORT": str(ports["dns"])})
    rig.firmware = fw
    fw.start()
    yield rig, fw, ports
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(rig.console()[-4000:])
    rig.close()


def _setup_password(fw, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(r"AP password (\S+)", fw.console())
        if m:
            return m.group(1)
        time.sleep(0.1)
    raise AssertionError("no AP password on the console: " + fw.console()[-2000:])


def _dns_query(port, name, qtype):
    q = b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        s.sendto(q, ("127.0.0.1", port))
        return q, s.recv(512)
    finally:
        s.close()


def test_first_boot_opens_the_access_point_and_is_refused_without_its_password(first_boot):
    rig, fw, ports = first_boot
    password = _setup_password(fw)
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
    ap = json.load(open(os.path.join(rig.flash, "ap.json")))
    assert ap["ssid"].startswith("metereye-") and ap["security"] == "WPA2-PSK"
    assert password not in json.dumps(ap)
    http = Http(ports["web"])
    http.wait_up(proc=fw.proc)
    assert http.get("/api/status").json()["setup"] is True
    cfg = {"wifi": {"ssid": "home", "password": SECRETS["wifi"]},
           "web": {"password": SECRETS["web"]}}
    for wrong in (None, "", "wrong-password", SECRETS["web"]):
        assert http.post("/api/config", cfg, password=wrong).status == 401
    # The page needs a password of its own: setup's stops working when setup ends.
    answer = http.post("/api/config", {"wifi": cfg["wifi"]}, password=password)
    assert answer.status == 400 and answer.json()["path"] == "web.password"
    assert not os.path.exists(os.path.join(rig.flash, "config.json"))
    for path in ("/", "/api/status", "/api/config", "/api/models", "/api/readings", "/api/history"):
        answer = http.get(path)
        assert answer.status == 200 and password not in answer.text, path

    # The captive portal: every name is the reader, and a phone's probe lands on the page.
    q, a = _dns_query(ports["dns"], "connectivitycheck.gstatic.com", 1)
    assert a[:2] == q[:2] and a[2] & 0x80 and a[6:8] == b"\x00\x01"
    assert a.endswith(b"\x00\x04\x7f\x00\x00\x01")                 # 127.0.0.1
    q, a = _dns_query(ports["dns"], "example.com", 28)                # AAAA: no answer
    assert a[6:8] == b"\x00\x00"
    probe = http.request("GET", "/generate_204")                       # urllib follows the redirect
    assert probe.status == 200 and b"First-time setup" in probe.body
    assert fw.proc.poll() is None


def test_setup_in_the_browser_saves_and_the_reader_starts_reading(first_boot, browser, tmp_path):
    rig, fw, ports = first_boot
    password = _setup_password(fw)
    http = Http(ports["web"])
    http.wait_up(proc=fw.proc)
    web_port = free_port()
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(http.base + "/")
    page.locator("#setup-banner").wait_for()
    assert page.locator("#auth-label").inner_text().startswith("The setup password")
    page.fill('[data-path="wifi.ssid"]', "home")
    page.fill('[data-path="wifi.password"]', SECRETS["wifi"])
    page.fill('[data-path="mqtt.host"]', rig.broker.host)
    page.fill('[data-path="mqtt.port"]', str(rig.broker.port))
    page.click("#add-meter")
    page.select_option('[data-path="meters[0].model"]', "multical21")
    page.select_option(".meter-fields .line-kind", "port")
    page.fill('[data-path="meters[0].port"]', rig.sim.port)
    page.fill('[data-path="web.port"]', str(web_port))
    page.fill('[data-path="reader_id"]', "setup-reader")
    page.fill('[data-path="web.password"]', "short")
    page.fill("#auth", password)
    shot(page, "setup.png", tmp_path)
    page.click("#save")
    page.locator('[data-err="web.password"]').filter(has_text="at least 8 characters").wait_for(timeout=10000)

    page.fill('[data-path="web.password"]', SECRETS["web"])
    page.fill("#auth", password)
    page.click("#save")
    page.locator("#save-msg").filter(has_text="Saved. The reader leaves setup").wait_for(timeout=10000)

    # Setup ends: the access point closes, the reader joins "home" and reads.
    rig.recorder.wait_for(lambda x: len(x.states()) >= 1, timeout=40, what="a reading after setup")
    assert not os.path.exists(os.path.join(rig.flash, "ap.json"))
    saved = json.load(open(os.path.join(rig.flash, "config.json")))
    assert saved["wifi"] == {"ssid": "home", "password": SECRETS["wifi"]}
    assert saved["meters"][0]["port"] == rig.sim.port and saved["meters"][0]["wake"] is None
    assert saved["web"]["password"] == SECRETS["web"] and saved["reader_id"] == "setup-reader"
    console = fw.console()
    assert "leaving setup" in console and "setup-reader" in console
    assert fw.proc.poll() is None                          # the same process: no reboot
    page_now = Http(web_port)
    page_now.wait_up(proc=fw.proc)
    status = page_now.get("/api/status").json()
    assert status["setup"] is False and status["reader"]["id"] == "setup-reader"
    # The setup password no longer changes anything; the page's own does.
    assert page_now.post("/api/config", {"reader_id": "x"}, password=password).status == 401
    assert SECRETS["wifi"] not in page_now.get("/api/config").text
    assert not errors, errors
