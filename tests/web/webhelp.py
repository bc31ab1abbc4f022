"""Helpers for the page's tests: the firmware on the unix MicroPython port
reading `metereye simulate` over a pty and publishing to a real Mosquitto (the
Rig of tests/firmware), its web server on a free port, plain HTTP to it, and
Debian's Chromium for what a person sees."""

import base64
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from fwhelp import Rig, need_mosquitto  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# Every secret the reader holds, each distinct enough that finding it in a
# page or an answer cannot be a coincidence.
SECRETS = {"wifi": "wifi-secret-7Hq2xw", "mqtt": "mqtt-secret-Zp9wQe", "web": "page-secret-4Kd8Lm"}


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need_chromium():
    """Debian's chromium and the Playwright package: missing skips outside CI, fails in it."""
    why = None
    if not os.path.exists(CHROMIUM):
        why = "Debian's chromium is not installed (tools/test.sh installs it as root: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is missing (pip install -e '.[dev]')"
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def shot(target, name, tmp_path=None):
    """A screenshot of a page (whole) or of one element: into $METEREYE_SCREENSHOTS
    when set (docs/ for the README), else into tmp_path."""
    folder = os.environ.get("METEREYE_SCREENSHOTS") or (str(tmp_path) if tmp_path else None)
    if folder:
        os.makedirs(folder, exist_ok=True)
        whole = {"full_page": True} if hasattr(target, "goto") else {}
        target.screenshot(path=os.path.join(folder, name), **whole)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


class Http:
    """Plain HTTP to the reader (urllib: what curl does)."""

    def __init__(self, port):
        self.port = port
        self.base = "http://127.0.0.1:%d" % port

    def request(self, method, path, body=None, headers=None, password=None, timeout=15):
        headers = dict(headers or {})
        if password is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as f:
                return Answer(f.status, dict(f.headers), f.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, dict(e.headers), e.read())

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, obj, password=None):
        return self.request("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"},
                            password)

    def wait_up(self, timeout=30.0, proc=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                raise AssertionError("the firmware exited")
            try:
                if self.get("/api/status").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("the reader's page did not answer within %.0f s" % timeout)


class Reader:
    """A Rig whose firmware serves its page on a free port, with every secret set."""

    def __init__(self, budget=1440, interval_s=3, meter="multical21"):
        self.port = free_port()
        self.rig = Rig(meter=meter, interval_s=interval_s, extra_config={
            "web": {"enabled": True, "port": self.port, "password": SECRETS["web"]},
            "wifi": {"ssid": "test-net", "password": SECRETS["wifi"]},
        })
        self.rig.config["mqtt"].update(user="reader", password=SECRETS["mqtt"])
        self.rig.config["meters"][0]["budget"] = budget
        self.http = Http(self.port)
        self.url = self.http.base + "/"

    def start(self, **kw):
        self.rig.start_firmware(**kw)
        self.http.wait_up(proc=self.rig.firmware.proc)
        return self

    def wait_history(self, n, timeout=40.0):
        """Until the reader keeps n readings for the chart; the entries."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            entries = self.http.get("/api/history").json()["entries"]
            if len(entries) >= n:
                return entries
            time.sleep(0.5)
        raise AssertionError("fewer than %d readings kept after %.0f s" % (n, timeout))

    def status(self):
        return self.http.get("/api/status").json()

    def console(self):
        return self.rig.console()

    def close(self):
        self.rig.close()




# The widths a person sees the page at: a laptop, and a phone on the reader's WiFi.
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def open_page(browser, r, width, height, timezone_id=None, fragment=""):
    """The reader's page (its address + fragment) in a browser context of its own (its own time zone):
    (page, page errors, requests that went anywhere but the reader).
    Close with page.context.close()."""
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=timezone_id)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    elsewhere = []
    page.on("request", lambda req: None if req.url.startswith(r.http.base) or req.url.startswith("data:")
            else elsewhere.append(req.url))
    page.goto(r.url + fragment)
    return page, errors, elsewhere
