"""The reader's configuration: defaults, the one validator, secrets kept out of sight.

The firmware, `metereye config`/`deploy` and the settings page all validate
through `validate()` (docs/decisions.md §19). A configuration is plain JSON data:

    {"reader_id": "metereye-1a2b3c",
     "wifi": {"ssid": "home", "password": "…"},
     "mqtt": {"host": "192.168.1.2", "port": 1883, "user": "", "password": "",
              "tls": false, "topic_prefix": "metereye", "discovery_prefix": "homeassistant"},
     "meters": [{"model": "multical21", "uart": 2, "tx": 17, "rx": 16,
                 "interval_s": 3600, "times": [], "budget": 48,
                 "wake": {"pin": 25, "pulse_ms": 300}}],
     "store": {"max_readings": 2000},
     "http": {"url": "", "format": "json", "token": "", "user": "", "password": "",
              "org": "", "bucket": "", "database": "", "max_in_flight": 1},
     "web": {"enabled": true, "port": 80, "password": "…"},
     "allow_write": false}

MQTT is on when mqtt.host is set, HTTP push when http.url is (firmware/http_push.py
says what each http.format sends where). On the unix port a meter's line is `"port": "/dev/pts/3"` or `"tcp:127.0.0.1:7000"`
instead of uart/tx/rx, and the wake output is `{"file": PATH}` (the simulator's magnet).
"""

from metereye import protocols
from metereye.errors import ConfigError, UnknownProtocol
from metereye.meters import details, find
from metereye.schedule import parse_times
from metereye.url import split_url

SECRET_KEYS = ("password", "token")
FRAMINGS = ("8N1", "8N2", "7E1", "7E2")
# Every key of a meter entry that validate_meter reads (`metereye config --meter`
# refuses any other, so a typo is named instead of dropped).
METER_KEYS = ("model", "port", "uart", "tx", "rx", "invert_tx", "invert_rx", "interval_s", "times",
              "budget", "wake", "extra_registers", "max_baud", "framing", "password")
HTTP_FORMATS = ("json", "influxdb2", "influxdb1")


def defaults():
    return {
        "reader_id": "",
        "wifi": {"ssid": "", "password": ""},
        "mqtt": {"host": "", "port": 1883, "user": "", "password": "", "tls": False,
                 "topic_prefix": "metereye", "discovery_prefix": "homeassistant"},
        "meters": [],
        "store": {"max_readings": 2000},
        # HTTP push (firmware/http_push.py): on when url is set.
        "http": {"url": "", "format": "json", "token": "", "user": "", "password": "",
                 "org": "", "bucket": "", "database": "", "max_in_flight": 1},
        # The reader's page (firmware/web.py). An empty password falls back to the
        # device's setup password (the access point's, printed on the console).
        "web": {"password": "", "enabled": True, "port": 80},
        "allow_write": False,
        "test_intervals": False,
    }


def _merge(base, given):
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _need(cond, path, why):
    if not cond:
        raise ConfigError(path, why)


def _int(value, path, lo, hi):
    _need(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
          path, "a whole number from %d to %d" % (lo, hi))
    return value


def _text(value, path, max_len=64, allow_empty=True):
    _need(isinstance(value, str) and len(value) <= max_len and (allow_empty or value),
          path, "text of at most %d characters%s" % (max_len, "" if allow_empty else ", not empty"))
    return value


def _topic_part(value, path):
    _text(value, path, 64, allow_empty=False)
    for ch in "#+ ":
        _need(ch not in value, path, "no '#', '+' or spaces in an MQTT topic")
    return value


def validate_meter(m, path, test_intervals=False):
    """A meter entry with its model's defaults filled in."""
    _need(isinstance(m, dict), path, "a meter is an object")
    name = m.get("model")
    row = find(name) if isinstance(name, str) else None
    _need(row is not None, path + ".model", "a known meter model (see `metereye simulate --list`)")
    try:
        protocols.find(row[1])
    except UnknownProtocol:
        raise ConfigError(path + ".model", "%s speaks %s, which this reader cannot read" % (name, row[1]))
    model = details(name)
    out = {"model": name, "protocol": row[1]}
    if "port" in m:
        out["port"] = _text(m["port"], path + ".port", 120, allow_empty=False)
    else:
        out["uart"] = _int(m.get("uart", 2), path + ".uart", 1, 2)
        out["tx"] = _int(m.get("tx", 17), path + ".tx", 0, 48)
        out["rx"] = _int(m.get("rx", 16), path + ".rx", 0, 48)
    out["invert_tx"] = bool(m.get("invert_tx", False))
    out["invert_rx"] = bool(m.get("invert_rx", False))
    # The floors protect real meters' batteries; a simulated meter has none,
    # so the demo and the tests may lift them ("test_intervals").
    min_s = 2 if test_intervals else getattr(model, "min_interval_s", 60)
    interval = m.get("interval_s", model.interval_s)
    _int(interval, path + ".interval_s", min_s, 7 * 86400)
    out["interval_s"] = interval
    times = m.get("times", [])
    _need(isinstance(times, list), path + ".times", "a list of HH:MM")
    try:
        parse_times(times)
    except ValueError as e:
        raise ConfigError(path + ".times", "times of day as HH:MM, not %s" % e.args[0])
    out["times"] = times
    out["budget"] = _int(m.get("budget", model.sessions_per_day), path + ".budget", 1, 1440)
    wake = m.get("wake")
    if wake:
        _need(isinstance(wake, dict), path + ".wake", "an object with pin (or file) and pulse_ms")
        w = {"pulse_ms": _int(wake.get("pulse_ms", 300), path + ".wake.pulse_ms", 10, 10000)}
        if "file" in wake:
            w["file"] = _text(wake["file"], path + ".wake.file", 200, allow_empty=False)
        else:
            w["pin"] = _int(wake.get("pin", 25), path + ".wake.pin", 0, 48)
        out["wake"] = w
    else:
        out["wake"] = None
    extra = m.get("extra_registers", [])
    _need(isinstance(extra, list), path + ".extra_registers", "a list of register ids")
    out["extra_registers"] = [_int(r, path + ".extra_registers", 0, 0xFFFF) for r in extra]
    if "max_baud" in m:
        out["max_baud"] = _int(m["max_baud"], path + ".max_baud", 300, 115200)
    if "framing" in m:
        _need(m["framing"] in FRAMINGS, path + ".framing", "one of " + ", ".join(FRAMINGS))
        out["framing"] = m["framing"]
    if m.get("password"):
        out["password"] = _text(m["password"], path + ".password", 32)
    return out


def validate(given):
    """The complete configuration, defaults filled in; ConfigError(path, why) if wrong."""
    _need(isinstance(given, dict), "config", "a JSON object")
    cfg = _merge(defaults(), given)
    _text(cfg["reader_id"], "reader_id", 32)
    wifi = cfg["wifi"]
    _text(wifi["ssid"], "wifi.ssid", 32)
    _text(wifi["password"], "wifi.password", 64)
    _need(not wifi["password"] or len(wifi["password"]) >= 8, "wifi.password", "WPA needs 8 to 64 characters")
    mq = cfg["mqtt"]
    _text(mq["host"], "mqtt.host", 64)
    _int(mq["port"], "mqtt.port", 1, 65535)
    _text(mq["user"], "mqtt.user", 64)
    _text(mq["password"], "mqtt.password", 64)
    _need(isinstance(mq["tls"], bool), "mqtt.tls", "true or false")
    _topic_part(mq["topic_prefix"], "mqtt.topic_prefix")
    _topic_part(mq["discovery_prefix"], "mqtt.discovery_prefix")
    _need(isinstance(cfg["meters"], list) and len(cfg["meters"]) <= 4, "meters", "a list of at most 4 meters")
    _need(isinstance(cfg["test_intervals"], bool), "test_intervals", "true or false")
    cfg["meters"] = [validate_meter(m, "meters[%d]" % i, cfg["test_intervals"])
                     for i, m in enumerate(cfg["meters"])]
    _int(cfg["store"]["max_readings"], "store.max_readings", 10, 20000)
    _validate_http(cfg["http"])
    _text(cfg["web"]["password"], "web.password", 64)
    # It guards every change over an unencrypted LAN: too short is guessed.
    _need(not cfg["web"]["password"] or len(cfg["web"]["password"]) >= 8, "web.password",
          "at least 8 characters (or empty: the device's setup password)")
    _need(isinstance(cfg["web"]["enabled"], bool), "web.enabled", "true or false")
    _int(cfg["web"]["port"], "web.port", 1, 65535)
    _need(isinstance(cfg["allow_write"], bool), "allow_write", "true or false")
    return cfg


def _validate_http(h):
    _need(isinstance(h, dict), "http", "an object")
    _text(h["url"], "http.url", 200)
    if h["url"]:
        try:
            split_url(h["url"])
        except ValueError as e:
            raise ConfigError("http.url", e.args[0])
    _need(h["format"] in HTTP_FORMATS, "http.format", "one of " + ", ".join(HTTP_FORMATS))
    for key in ("token", "user", "password", "org", "bucket", "database"):
        _text(h[key], "http." + key, 200 if key == "token" else 64)
    if h["url"] and h["format"] == "influxdb2":
        _need(h["org"], "http.org", "the InfluxDB organisation to write to")
        _need(h["bucket"], "http.bucket", "the InfluxDB bucket to write to")
    if h["url"] and h["format"] == "influxdb1":
        _need(h["database"], "http.database", "the InfluxDB database to write to")
    # Each request in flight holds a connection (and on https a TLS session, ~40 KB on an ESP32).
    _int(h["max_in_flight"], "http.max_in_flight", 1, 4)


SET = "(set)"      # what a secret shows as: never its value


def with_changes(cfg, changes):
    """The configuration after a change from the page or the API, not yet validated.

    Objects merge into the current one and lists replace theirs, so a partial
    change ({"mqtt": {"topic_prefix": "x"}}) keeps the rest. A secret left out,
    empty or "(set)" keeps its value (the page never has it to send back);
    null clears it. Items of a replaced list keep secrets by position.
    """
    _need(isinstance(changes, dict), "config", "a JSON object")
    out = _copy(cfg)
    _keep_secrets(changes, cfg)
    return _merge(out, changes)


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _keep_secrets(new, old):
    if isinstance(new, dict) and isinstance(old, dict):
        for key in SECRET_KEYS:
            if key in new:
                if new[key] is None:
                    new[key] = ""
                elif new[key] in ("", SET) and key in old:
                    new[key] = old[key]
        for key, value in new.items():
            if key not in SECRET_KEYS and key in old:
                _keep_secrets(value, old[key])
    elif isinstance(new, list) and isinstance(old, list):
        for i in range(min(len(new), len(old))):
            if isinstance(new[i], dict) and isinstance(old[i], dict):
                for key in SECRET_KEYS:
                    if key not in new[i] and key in old[i]:
                        new[i][key] = old[i][key]
            _keep_secrets(new[i], old[i])


def redacted(cfg):
    """A copy safe to print or serve: every secret replaced by a marker of whether it is set."""
    if isinstance(cfg, dict):
        return {k: ((SET if v else "") if k in SECRET_KEYS else redacted(v)) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [redacted(v) for v in cfg]
    return cfg
