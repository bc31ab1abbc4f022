"""`metereye config`: a reader's configuration file from flags, a JSON file and
questions, checked by the one validator the firmware and its page use
(lib/metereye/config.py), written readable only by its owner, and shown with
its secrets redacted."""

import getpass
import json
import os
import sys

from metereye import meters
from metereye.config import METER_KEYS, redacted, validate
from metereye.errors import ConfigError
from metereye_tools.cliutil import EXIT_OK, EXIT_USAGE, CommandError


def meter_spec(text):
    """MODEL or MODEL:key=value,key=value into a meter entry (numbers as numbers);
    CommandError (exit 2) names a key a meter entry does not have."""
    model, _, rest = text.partition(":")
    meter = {"model": model}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        if key not in METER_KEYS or key == "model":
            raise CommandError("--meter %s: unknown key %r (a meter takes %s)"
                               % (text, key, ", ".join(k for k in METER_KEYS if k != "model")), EXIT_USAGE)
        try:
            meter[key] = int(value)
        except ValueError:
            meter[key] = value
    if "wake" in meter:
        meter["wake"] = {"pin": meter["wake"]} if isinstance(meter["wake"], int) else {"file": meter["wake"]}
    return meter


def _ask(prompt, secret=False, default=""):
    text = getpass.getpass(prompt + ": ") if secret else input(
        "%s%s: " % (prompt, " [%s]" % default if default else ""))
    return text.strip() or default


def make_config(args, interactive):
    """The configuration from --from FILE, then flags, then questions for what is missing."""
    cfg = {}
    if args.source:
        with open(args.source, encoding="utf-8") as f:
            cfg = json.load(f)
    for section in ("wifi", "mqtt", "web"):
        cfg.setdefault(section, {})
    flags = (("reader_id", None, args.reader_id), ("ssid", "wifi", args.wifi_ssid),
             ("password", "wifi", args.wifi_password), ("host", "mqtt", args.mqtt_host),
             ("port", "mqtt", args.mqtt_port), ("user", "mqtt", args.mqtt_user),
             ("password", "mqtt", args.mqtt_password), ("password", "web", args.web_password))
    for key, section, value in flags:
        if value is not None:
            (cfg[section] if section else cfg)[key] = value
    if args.mqtt_tls:
        cfg["mqtt"]["tls"] = True
    if args.meter:
        cfg["meters"] = [meter_spec(m) for m in args.meter]
    if interactive:
        if not cfg["wifi"].get("ssid"):
            cfg["wifi"]["ssid"] = _ask("WiFi network (SSID)")
        if cfg["wifi"].get("ssid") and not cfg["wifi"].get("password"):
            cfg["wifi"]["password"] = _ask("WiFi password", secret=True)
        if not cfg["mqtt"].get("host"):
            cfg["mqtt"]["host"] = _ask("MQTT broker (host name or address)")
        if cfg["mqtt"].get("host") and "user" not in cfg["mqtt"]:
            cfg["mqtt"]["user"] = _ask("MQTT user (empty for none)")
            if cfg["mqtt"]["user"]:
                cfg["mqtt"]["password"] = _ask("MQTT password", secret=True)
        if not cfg.get("meters"):
            model = _ask("meter model (%s)" % ", ".join(row[0] for row in meters.MODELS), default="multical21")
            cfg["meters"] = [meter_spec(model)]
        if not cfg["web"].get("password"):
            cfg["web"]["password"] = _ask("password for the reader's page, 8 characters or more (empty: "
                                          "the reader's setup password, shown on its console)", secret=True)
    return cfg


def config_command(args):
    interactive = not args.no_input and sys.stdin.isatty()
    try:
        cfg = make_config(args, interactive)
    except EOFError:
        raise CommandError("no answer (standard input ended); nothing written", EXIT_USAGE)
    except (OSError, ValueError) as e:
        raise CommandError(str(e), EXIT_USAGE)
    try:
        full = validate(json.loads(json.dumps(cfg)))
    except ConfigError as e:
        raise CommandError("%s: %s (nothing written)" % (e.args[0], e.args[1]), EXIT_USAGE)
    if not full["meters"]:
        raise CommandError("meters: no meter, so the reader would read nothing: give --meter MODEL "
                           "(metereye simulate --list names them), or add one to the --from file "
                           "(nothing written)", EXIT_USAGE)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds passwords
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(redacted(full), indent=1, ensure_ascii=False))
    print("written to %s (only you can read it). Put it on the board with: metereye deploy --port PORT "
          "--config %s" % (args.out, args.out))
    return EXIT_OK
