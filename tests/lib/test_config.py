"""The one configuration validator (firmware, deploy and page share it)."""

from metereye.config import redacted, validate
from metereye.errors import ConfigError


def _fails(cfg, path):
    try:
        validate(cfg)
    except ConfigError as e:
        assert e.args[0] == path, e.args
        return
    raise AssertionError("accepted: %r" % (cfg,))


def test_a_minimal_config_gets_the_model_defaults():
    cfg = validate({"meters": [{"model": "multical21", "port": "/dev/pts/3"}]})
    m = cfg["meters"][0]
    assert m["protocol"] == "kmp" and m["interval_s"] == 3600 and m["budget"] == 48
    assert cfg["mqtt"]["port"] == 1883 and cfg["mqtt"]["discovery_prefix"] == "homeassistant"
    heat = validate({"meters": [{"model": "multical403"}]})["meters"][0]
    assert heat["interval_s"] == 900 and heat["uart"] == 2 and heat["tx"] == 17 and heat["rx"] == 16


def test_bad_values_are_named_by_their_path():
    _fails({"meters": [{"model": "nonesuch"}]}, "meters[0].model")
    _fails({"meters": [{"model": "multical21", "interval_s": 30}]}, "meters[0].interval_s")
    _fails({"meters": [{"model": "multical21", "times": ["7am"]}]}, "meters[0].times")
    _fails({"mqtt": {"port": 70000}}, "mqtt.port")
    _fails({"mqtt": {"topic_prefix": "a/#"}}, "mqtt.topic_prefix")
    _fails({"wifi": {"password": "short"}}, "wifi.password")
    _fails({"allow_write": "yes"}, "allow_write")
    _fails([], "config")


def test_secrets_never_show_in_a_redacted_copy():
    cfg = validate({"wifi": {"ssid": "home", "password": "hunter2hunter2"},
                    "mqtt": {"password": "s3cret"}, "web": {"password": "pagepass1"}})
    text = repr(redacted(cfg))
    for secret in ("hunter2hunter2", "s3cret", "pagepass1"):
        assert secret not in text
    assert redacted(cfg)["wifi"]["password"] == "(set)" and redacted(cfg)["mqtt"]["user"] == ""
