"""What a change from the page does to the configuration (metereye.config.with_changes):
secrets are kept unless replaced, partial changes keep the rest, the one validator decides."""

import pytest

from metereye.config import SET, redacted, validate, with_changes
from metereye.errors import ConfigError

CURRENT = validate({
    "wifi": {"ssid": "home", "password": "wifi-pass-1"},
    "mqtt": {"host": "broker", "user": "u", "password": "mqtt-pass-1", "topic_prefix": "meters"},
    "meters": [{"model": "multical21", "uart": 2}, {"model": "iec-electricity", "uart": 1, "password": "meterpw"}],
    "web": {"password": "page-pass-1"},
})


def test_a_partial_change_keeps_everything_else():
    cfg = validate(with_changes(CURRENT, {"mqtt": {"topic_prefix": "new"}}))
    assert cfg["mqtt"]["topic_prefix"] == "new"
    assert cfg["mqtt"]["host"] == "broker" and cfg["mqtt"]["password"] == "mqtt-pass-1"
    assert cfg["meters"] == CURRENT["meters"] and cfg["wifi"] == CURRENT["wifi"]


def test_the_page_sending_back_what_it_was_shown_changes_nothing():
    assert validate(with_changes(CURRENT, redacted(CURRENT))) == CURRENT
    blanked = redacted(CURRENT)
    for part in (blanked["wifi"], blanked["mqtt"], blanked["web"]):
        part["password"] = ""                    # a password field left empty
    del blanked["meters"][1]["password"]         # or not sent at all
    assert validate(with_changes(CURRENT, blanked)) == CURRENT


def test_a_secret_is_replaced_when_given_and_cleared_only_by_null():
    cfg = validate(with_changes(CURRENT, {"mqtt": {"password": "other-pass"}, "wifi": {"password": None}}))
    assert cfg["mqtt"]["password"] == "other-pass" and cfg["wifi"]["password"] == ""
    assert redacted(cfg)["mqtt"]["password"] == SET and redacted(cfg)["wifi"]["password"] == ""


def test_a_replaced_meter_list_keeps_secrets_by_position():
    meters = redacted(CURRENT)["meters"]
    meters[0]["interval_s"] = 7200
    cfg = validate(with_changes(CURRENT, {"meters": meters}))
    assert cfg["meters"][0]["interval_s"] == 7200 and cfg["meters"][1]["password"] == "meterpw"
    cfg = validate(with_changes(CURRENT, {"meters": meters[:1]}))
    assert len(cfg["meters"]) == 1


def test_a_bad_change_is_the_validators_error_with_its_path():
    with pytest.raises(ConfigError) as e:
        validate(with_changes(CURRENT, {"meters": [{"model": "multical21", "interval_s": 5}]}))
    assert e.value.args[0] == "meters[0].interval_s"
    with pytest.raises(ConfigError) as e:
        validate(with_changes(CURRENT, {"web": {"password": "short"}}))
    assert e.value.args == ("web.password", "at least 8 characters (or empty: the device's setup password)")
    with pytest.raises(ConfigError):
        with_changes(CURRENT, ["not", "an", "object"])


def test_the_page_is_on_by_default_and_its_port_is_checked():
    assert validate({})["web"] == {"password": "", "enabled": True, "port": 80}
    with pytest.raises(ConfigError) as e:
        validate({"web": {"port": 70000}})
    assert e.value.args[0] == "web.port"
