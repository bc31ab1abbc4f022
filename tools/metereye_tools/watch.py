"""`metereye watch`: the readings a broker carries, as a person reads them.

It subscribes to the readers' state topics and to Home Assistant's discovery
configs, learns each value's unit from the discovery config (the unit Home
Assistant shows), and prints one line per reading with the digits exactly as
they travelled (831.690 stays 831.690: JSON numbers are parsed as decimals,
never floats). `--all` prints every topic and payload instead, like
`mosquitto_sub -v`, for the machines that have no mosquitto_sub.
"""

import decimal
import json
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_broker(text, default_port=1883):
    """"HOST[:PORT]" -> (host, port); ValueError for anything else."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(text)
    return host, int(port)


def _exact(payload):
    """The JSON object of a payload with numbers kept as the text they were, or None."""
    try:
        obj = json.loads(payload, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


class Units:
    """What discovery said: (state topic, key) -> unit, learnt as configs arrive."""

    def __init__(self):
        self._units = {}

    def learn(self, payload):
        cfg = _exact(payload)
        if not cfg:
            return
        topic = cfg.get("state_topic") or cfg.get("stat_t")
        template = cfg.get("value_template") or cfg.get("val_tpl") or ""
        key = template.replace("{{", "").replace("}}", "").strip()
        if not topic or not key.startswith("value_json."):
            return
        key = key[len("value_json."):].split()[0]
        self._units[(topic, key)] = cfg.get("unit_of_measurement") or cfg.get("unit_of_meas") or ""

    def unit(self, topic, key):
        return self._units.get((topic, key), "")


def format_reading(topic, payload, units=None):
    """One line for a state message, or None when it is not one of ours."""
    state = _exact(payload)
    parts = topic.split("/")
    if state is None or len(parts) < 4 or parts[-1] != "state":
        return None
    t = state.get("t")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t))) if t is not None else "(clock not set)"
    words = []
    for key, value in state.items():
        if key in ("t", "seq"):
            continue
        unit = units.unit(topic, key) if units is not None else ""
        words.append("%s %s%s" % (key, value, " " + unit if unit else ""))
    return "%s  %s/%s  %s  (seq %s)" % (when, parts[-3], parts[-2], ", ".join(words), state.get("seq"))


def subscribe(host, port, on_line, prefix="metereye", discovery="homeassistant", everything=False,
              user=None, password=None, client_id="metereye-watch"):
    """A started paho client that calls on_line(text) for each line to print."""
    import paho.mqtt.client as mqtt

    units = Units()

    def on_message(client, userdata, msg):
        if everything:
            on_line("%s %s" % (msg.topic, msg.payload.decode("utf-8", "replace")))
        elif msg.topic.startswith(discovery + "/"):
            units.learn(msg.payload)
        else:
            line = format_reading(msg.topic, msg.payload, units)
            if line is not None:
                on_line(line)

    def on_connect(client, userdata, flags, reason_code, properties=None):
        if everything:
            client.subscribe([(prefix + "/#", 0), (discovery + "/#", 0)])
        else:
            # Discovery first, so the units are known before the first reading.
            client.subscribe([(discovery + "/sensor/+/config", 0), (prefix + "/+/+/state", 0)])

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if user:
        client.username_pw_set(user, password or None)
    client.on_message = on_message
    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    return client


def watch_command(args):
    try:
        host, port = parse_broker(args.broker)
    except ValueError:
        print("metereye watch: --broker takes HOST or HOST:PORT, e.g. 127.0.0.1:1883", file=sys.stderr)
        return EXIT_USAGE
    lines = [0]

    def out(text):
        lines[0] += 1
        print(text, flush=True)

    try:
        client = subscribe(host, port, out, prefix=args.prefix, discovery=args.discovery_prefix,
                           everything=args.all, user=args.user, password=args.password)
    except OSError as e:
        print("metereye watch: cannot reach the broker at %s:%d: %s" % (host, port, e), file=sys.stderr)
        return EXIT_FAILED
    end = time.monotonic() + args.seconds if args.seconds else None
    try:
        while end is None or time.monotonic() < end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    print("metereye watch: %d %s from %s:%d" % (lines[0], "messages" if args.all else "readings", host, port),
          file=sys.stderr)
    return EXIT_OK
