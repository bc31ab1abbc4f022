"""The HTTP push settings through the reader's JSON API: the token and password
are never served, a change that leaves them out keeps them, and /api/status
shows the push target's state beside MQTT's."""

import json
import os
import sys
import time

from webhelp import SECRETS, Reader, need_mosquitto

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "firmware"))
from pushhelp import Receiver  # noqa: E402

PUSH_SECRETS = {"token": "push-token-Hq7wZ2", "password": "push-pass-Vb3nK8"}


def test_push_secrets_are_never_served_and_kept_across_a_change():
    need_mosquitto()
    receiver = Receiver()
    r = Reader()
    r.rig.config["http"] = {"url": receiver.url + "/in", "token": PUSH_SECRETS["token"],
                            "user": "reader", "password": PUSH_SECRETS["password"]}
    try:
        r.start()
        end = time.monotonic() + 40
        while time.monotonic() < end and not r.status()["reader"]["http"]["sent"]:
            time.sleep(0.3)
        status = r.status()["reader"]
        assert status["http"]["sent"] >= 1 and status["http"]["connected"] is True
        assert status["http"]["last_seq"] >= 1 and status["http"]["error"] is None
        assert status["mqtt"]["connected"] is True and "queued" in status["mqtt"]
        config = r.http.get("/api/config").json()
        assert config["http"]["token"] == config["http"]["password"] == "(set)"
        assert config["http"]["user"] == "reader" and config["http"]["url"] == receiver.url + "/in"
        # The page sends back what it was shown: the secrets stay as they were.
        config["http"]["max_in_flight"] = 2
        saved = r.http.post("/api/config", config, password=SECRETS["web"])
        assert saved.status == 200, saved.text
        with open(os.path.join(r.rig.flash, "config.json")) as f:
            on_flash = json.load(f)["http"]
        assert on_flash["token"] == PUSH_SECRETS["token"] and on_flash["password"] == PUSH_SECRETS["password"]
        assert on_flash["max_in_flight"] == 2
        bad = r.http.post("/api/config", {"http": {"url": "ftp://x/"}}, password=SECRETS["web"]).json()
        assert bad["path"] == "http.url"
        for text in (json.dumps(status), json.dumps(config), saved.text, json.dumps(bad)):
            for secret in PUSH_SECRETS.values():
                assert secret not in text
    finally:
        r.close()
        receiver.close()
