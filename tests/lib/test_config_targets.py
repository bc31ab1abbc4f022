"""The validator's parts for where readings go (HTTP push, lib/metereye/config.py)
and for a model whose protocol the reader cannot read. Runs on CPython and on
unix MicroPython (tests/mp_run.py)."""

from metereye import meters
from metereye.config import redacted, validate, with_changes
from metereye.errors import ConfigError
from metereye.url import query_value, split_url


def _fails(cfg, path, words=""):
    try:
        validate(cfg)
    except ConfigError as e:
        assert e.args[0] == path, e.args
        assert words in e.args[1], e.args
        return
    raise AssertionError("accepted: %r" % (cfg,))


def test_http_push_is_off_by_default_and_each_format_names_what_it_needs():
    assert validate({})["http"] == {"url": "", "format": "json", "token": "", "user": "", "password": "",
                                    "org": "", "bucket": "", "database": "", "max_in_flight": 1}
    cfg = validate({"http": {"url": "https://example.org/meters", "token": "t0ken-secret"}})
    assert cfg["http"]["url"] == "https://example.org/meters"
    _fails({"http": {"url": "ftp://example.org/"}}, "http.url", "http://")
    _fails({"http": {"url": "http://user:pw@example.org/"}}, "http.url", "no user or password")
    _fails({"http": {"url": "http://example.org:0/"}}, "http.url", "port")
    _fails({"http": {"url": "http:///x"}}, "http.url", "host")
    _fails({"http": {"url": "http://a/", "format": "csv"}}, "http.format")
    _fails({"http": {"url": "http://a:8086", "format": "influxdb2", "bucket": "b"}}, "http.org")
    _fails({"http": {"url": "http://a:8086", "format": "influxdb2", "org": "o"}}, "http.bucket")
    _fails({"http": {"url": "http://a:8086", "format": "influxdb1"}}, "http.database")
    _fails({"http": {"url": "http://a/", "max_in_flight": 0}}, "http.max_in_flight")
    _fails({"http": {"url": "http://a/", "max_in_flight": 5}}, "http.max_in_flight")
    # What a format needs is asked only when it is used.
    assert validate({"http": {"format": "influxdb2"}})["http"]["url"] == ""


def test_the_push_token_and_password_are_secrets_like_the_others():
    cfg = validate({"http": {"url": "http://a:8086", "format": "influxdb1", "database": "d",
                             "user": "u", "password": "pw-secret-1", "token": "tok-secret-2"}})
    shown = redacted(cfg)["http"]
    assert shown["password"] == "(set)" and shown["token"] == "(set)" and shown["user"] == "u"
    kept = validate(with_changes(cfg, redacted(cfg)))
    assert kept["http"]["password"] == "pw-secret-1" and kept["http"]["token"] == "tok-secret-2"
    cleared = validate(with_changes(cfg, {"http": {"token": None}}))
    assert cleared["http"]["token"] == "" and cleared["http"]["password"] == "pw-secret-1"


def test_a_model_whose_protocol_the_reader_cannot_read_is_refused_by_name():
    saved = meters.MODELS
    meters.MODELS = saved + (("modbus-meter", "modbus", "iec_profiles", "a Modbus meter"),)
    try:
        _fails({"meters": [{"model": "modbus-meter"}]}, "meters[0].model", "modbus")
    finally:
        meters.MODELS = saved
    # A protocol written into the configuration never overrides the model's.
    cfg = validate({"meters": [{"model": "multical21", "protocol": "iec-c", "port": "/dev/pts/3"}]})
    assert cfg["meters"][0]["protocol"] == "kmp"


def test_urls_split_into_what_a_request_needs():
    assert split_url("http://192.168.1.2:8086") == (False, "192.168.1.2", 8086, "/")
    assert split_url("https://example.org/api/in?x=1") == (True, "example.org", 443, "/api/in?x=1")
    assert split_url("http://example.org/") == (False, "example.org", 80, "/")
    for bad in ("example.org", "http://", "http://u@h/", "http://h:x/", "http://h:70000/", "http://a b/"):
        try:
            split_url(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert query_value("my org/ä&x") == "my%20org%2F%C3%A4%26x"
