"""`metereye`: decode, read, scan and simulate meters from a PC with the same
lib/ code the reader runs.

Exit status: 0 good; 1 a frame or read that failed its check, or no light
back from the head; 2 bad input or usage; 3 the meter went silent (asleep or
a suspected lock-out).
"""

import argparse
import json
import os
import sys
import time

from metereye import kmp, kmp_json, meters
from metereye.meters.kamstrup import decode_info, register_key

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SILENT = 0, 1, 2, 3


def _print_json(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def read_input(words):
    """HEX words, a FILE, or - (stdin): the raw bytes and whether they came as hex."""
    if len(words) == 1 and words[0] == "-":
        return sys.stdin.buffer.read(), False
    if len(words) == 1 and os.path.isfile(words[0]):
        with open(words[0], "rb") as f:
            return f.read(), False
    text = "".join(words).replace(" ", "").replace(":", "")
    if text.lower().startswith("0x"):
        text = text[2:]
    return bytes.fromhex(text), True


def _maybe_hex_text(data):
    """A file or stdin that holds hex text rather than raw bytes."""
    text = data.decode("ascii", "replace").split()
    try:
        return bytes.fromhex("".join(text)) if text else data
    except ValueError:
        return data


# --- decode -------------------------------------------------------------------

def cmd_decode(args):
    try:
        data, was_hex = read_input(args.input)
    except ValueError as e:
        print("metereye decode: not hex: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    if args.protocol == "kmp":
        if not was_hex:
            data = _maybe_hex_text(data)
        return decode_kmp(data, args.json)
    return decode_iec(data, args.json)


def decode_kmp(data, as_json):
    result, status = kmp_json.decode(data)
    if status == EXIT_USAGE:
        print("metereye decode: not a KMP frame (a frame starts with 0x80 or 0x40; "
              "an ACK is a lone 0x06)", file=sys.stderr)
        return status
    if as_json:
        _print_json(result)
        return status
    for d in (result if isinstance(result, list) else [result]):
        _print_kmp_frame(d)
    return status


def _print_kmp_frame(d):
    if d["frame"] == "ack":
        print("ACK")
        return
    head = "%s cid=0x%02X" % (d["frame"], d["cid"]) if d.get("cid") is not None else str(d["frame"])
    check = "CRC ok" if d["crc_ok"] else "CRC/framing FAILED: %s" % d.get("error")
    print("%s  %s%s" % (head, check, "  (%s)" % d["warning"] if d.get("warning") else ""))
    for key in ("address", "meter_type", "software_revision", "serial", "data_hex"):
        if key in d:
            print("  %s: %s" % (key, d[key]))
    for r in d.get("registers", ()):
        if "value" in r:
            print("  %5d %-24s %s %s" % (r["id"], r["name"], r.get("display") or r["value"], r["unit"] or ""))
        else:
            print("  %5d %s" % (r["id"], r["name"]))


def decode_iec(data, as_json):
    try:
        from metereye import iec_json
    except ImportError:
        print("metereye decode iec: IEC 62056-21 support is not installed", file=sys.stderr)
        return EXIT_USAGE
    result, status = iec_json.decode(data)
    if status == EXIT_USAGE and result.get("error") in (None, "not_iec", "garbage", "not_a_frame"):
        print("metereye decode: %s" % result.get("message_text", "nothing recognisable as IEC 62056-21"),
              file=sys.stderr)
        if not as_json:
            return status
    if as_json:
        _print_json(result)
    else:
        print(iec_json.to_text(result))
    return status


# --- read ---------------------------------------------------------------------

def _open_line(port, baud, framing):
    from metereye_tools.line import LineError, SerialLine
    try:
        return SerialLine(port, baud, framing)
    except LineError as e:
        print("metereye: %s" % e, file=sys.stderr)
        return None


SILENT_ADVICE = {
    "asleep": "The meter did not answer, but our own light came back, so the head works. "
              "The meter's optical port is asleep or locked out: apply the magnet (or re-apply it; "
              "turn it 180° if it never worked), then try again. Reading too often drains the "
              "meter's budget: see the default schedule.",
    "lockout": "The meter answered, then went silent: a lock-out is suspected (meters ration their "
               "optical port after many requests). Wait, or re-apply the magnet, and read less often.",
    "no_echo": "Nothing came back at all, not even our own light: check the head's wiring and power, "
               "the port, and that the receiver is sensitive enough (metereye echo-test --port PORT).",
    "garbled": "Frames arrived but failed their checks: check the head's position (light from outside, "
               "a misaligned head) and the line settings.",
}


def cmd_read(args):
    model_name = args.meter
    row = meters.find(model_name) if model_name else None
    if model_name and row is None:
        print("metereye read: unknown meter %r (see metereye simulate --list)" % model_name, file=sys.stderr)
        return EXIT_USAGE
    protocol = args.protocol or (row[1].split("-")[0] if row else "kmp")
    if row and args.protocol and row[1].split("-")[0] != args.protocol:
        print("metereye read: --meter %s speaks %s, not %s" % (model_name, row[1], args.protocol),
              file=sys.stderr)
        return EXIT_USAGE
    if protocol == "iec":
        from metereye_tools.iec_commands import read_iec
        return read_iec(args, row)
    model = meters.details(model_name or "multical21")
    ids = list(model.register_ids) + [i for i in (args.register or []) if i not in model.register_ids]
    line = _open_line(args.port, kmp.LINE_BAUD, kmp.LINE_FRAMING)
    if line is None:
        return EXIT_FAILED
    from metereye_tools.line import run_session
    try:
        session = kmp.KmpSession(ids, want_serial=model.serial_register is None)
        result = run_session(line, session)
    finally:
        line.close()
    return report_kmp(result, model, args.json)


def report_kmp(result, model, as_json):
    regs = [result.registers[i] for i in model.register_ids if i in result.registers]
    regs += [r for i, r in sorted(result.registers.items()) if i not in model.register_ids]
    serial = result.serial
    if serial is None and model.serial_register in result.registers:
        serial = result.registers[model.serial_register].raw
    identity = {"manufacturer": model.manufacturer, "model": model.name,
                "description": model.description, "serial": serial}
    if result.meter_type:
        identity["meter_type"] = result.meter_type
        identity["software_revision"] = result.software_revision
    if 99 in result.registers:
        identity["info_flags"] = decode_info(result.registers[99].raw, model.info_flags)
    status = {"ok": EXIT_OK, "lockout": EXIT_SILENT, "asleep": EXIT_SILENT}.get(result.outcome, EXIT_FAILED)
    if as_json:
        out = {"meter": identity, "protocol": "kmp", "outcome": result.outcome,
               "registers": [kmp_json.register(r) for r in regs]}
        if result.outcome != "ok":
            out["error"] = result.outcome
            out["advice"] = SILENT_ADVICE.get(result.outcome)
        _print_json(out)
    else:
        print("%s, serial %s" % (model.description, serial if serial is not None else "unknown"))
        for r in regs:
            print("  %-24s %14s %s" % (register_key(r.id), r.display or r.value, r.unit or ""))
        if identity.get("info_flags"):
            print("  info flags: %s" % ", ".join(identity["info_flags"]))
        print("  (%d requests, %d bytes sent, %d received)" % (
            result.requests, result.bytes_sent, result.bytes_received))
    if result.outcome != "ok":
        print("metereye read: %s: %s" % (result.outcome, SILENT_ADVICE.get(result.outcome, "")),
              file=sys.stderr)
    return status


# --- scan ---------------------------------------------------------------------

def parse_range(text):
    lo, _, hi = text.partition("-")
    lo, hi = int(lo, 0), int(hi or lo, 0)
    if not 0 <= lo <= hi <= 0xFFFF:
        raise ValueError(text)
    return lo, hi


def cmd_scan(args):
    try:
        lo, hi = parse_range(args.range)
    except ValueError:
        print("metereye scan: --range takes A-B, decimal or 0x ids from 0 to 65535", file=sys.stderr)
        return EXIT_USAGE
    line = _open_line(args.port, kmp.LINE_BAUD, kmp.LINE_FRAMING)
    if line is None:
        return EXIT_FAILED
    from metereye_tools.line import run_session
    found = []
    status = EXIT_OK
    try:
        ids = list(range(lo, hi + 1))
        parts = kmp.batches(ids)
        for n, part in enumerate(parts):
            if n:
                time.sleep(args.delay)      # throttled: the meter rations its port
            session = kmp.KmpSession(part, want_serial=False)
            session.retries = 0
            result = run_session(line, session)
            if result.outcome in ("asleep", "no_echo", "lockout") and not result.registers:
                print("metereye scan: the meter stopped answering at id %d; resume later with "
                      "--range %d-%d" % (part[0], part[0], hi), file=sys.stderr)
                status = EXIT_SILENT if result.outcome != "no_echo" else EXIT_FAILED
                break
            for rid in part:
                reg = result.registers.get(rid)
                if reg is not None:
                    found.append(reg)
                    if not args.json:
                        print("%5d 0x%04X %-26s %14s %s" % (reg.id, reg.id, register_key(reg.id),
                                                           reg.display or reg.value, reg.unit or ""))
                        sys.stdout.flush()
    finally:
        line.close()
    if args.json:
        _print_json({"range": [lo, hi], "registers": [kmp_json.register(r) for r in found]})
    else:
        print("%d registers answered in %d-%d" % (len(found), lo, hi))
    return status


# --- echo-test ----------------------------------------------------------------

def cmd_echo_test(args):
    from metereye.echo import ECHO_OK, EchoTest
    from metereye_tools.line import run_session
    line = _open_line(args.port, args.baud, args.framing)
    if line is None:
        return EXIT_FAILED
    try:
        result = run_session(line, EchoTest(args.baud, args.framing))
    finally:
        line.close()
    if args.json:
        _print_json({"outcome": result.outcome, "received_hex": result.received.hex(" "),
                     "advice": result.advice})
    else:
        print("echo test on %s at %d %s: %s" % (args.port, args.baud, args.framing, result.outcome))
        print(result.advice)
    return EXIT_OK if result.outcome == ECHO_OK else EXIT_FAILED


# --- detect -------------------------------------------------------------------

def cmd_detect(args):
    from metereye_tools.iec_commands import detect
    return detect(args)


# --- simulate -----------------------------------------------------------------

def cmd_simulate(args):
    from metereye_tools import simulator
    _load_iec_simulator()
    if args.list:
        for name, protocol, description in simulator.simulated_models():
            print("%s %s %s" % (name, protocol, description))
        return EXIT_OK
    if not args.meter or not (args.pty or args.tcp is not None):
        print("metereye simulate: give METER and --pty or --tcp PORT (or --list)", file=sys.stderr)
        return EXIT_USAGE
    lockout = None
    if args.lockout:
        n, _, period = args.lockout.partition("/")
        lockout = (int(n), float(period or 3600))
    faults = simulator.Faults(need_magnet=args.need_magnet, awake_s=args.awake_s, lockout=lockout,
                              lockout_release_s=args.lockout_release, garble=args.garble,
                              noise=args.noise, seed=args.seed)
    try:
        meter = simulator.make_meter(args.meter, faults, log_path=args.log, speed=args.speed,
                                     freeze=args.freeze)
    except KeyError:
        print("metereye simulate: unknown meter %r (see --list)" % args.meter, file=sys.stderr)
        return EXIT_USAGE
    sim = simulator.Simulation(meter, echo=not args.no_echo, magnet_file=args.magnet_file,
                               speed_check=not args.no_speed_check)
    if hasattr(meter, "attach"):
        meter.attach(sim)       # IEC meters check the reader's speed as bytes leave; pushers tick
    if args.pty:
        print(sim.open_pty(), flush=True)
    else:
        print("tcp 127.0.0.1:%d" % sim.open_tcp(args.tcp), flush=True)
    until = time.monotonic() + args.seconds if args.seconds else None
    try:
        sim.run(until)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _load_iec_simulator():
    try:
        import metereye_tools.iec_simulator  # noqa: F401  (registers the IEC meters)
    except ImportError:
        pass


# --- the demo: the README's main job ----------------------------------------

def cmd_demo(args):
    """A simulated Multical 21, the firmware on unix MicroPython reading it, a broker."""
    import signal
    from metereye_tools import demo
    # A TERM (a service manager, `kill`) stops it as cleanly as Ctrl-C: the
    # firmware and the broker go with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    seconds = float(os.environ.get("METEREYE_RUN_SECONDS") or 0) or None
    demo.run(seconds=seconds, speed=args.speed, web_port=args.web_port)
    return EXIT_OK


# --- watch ----------------------------------------------------------------------

def cmd_watch(args):
    from metereye_tools.watch import watch_command
    return watch_command(args)


# --- deploy, config, update ------------------------------------------------------

def cmd_deploy(args):
    from metereye_tools.deploy import deploy_command
    return deploy_command(args)


def cmd_config(args):
    from metereye_tools.deploy import config_command
    return config_command(args)


def cmd_update(args):
    from metereye_tools.deploy import update_command
    return update_command(args)


# --- entry point ----------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(prog="metereye", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decode", help="decode a captured frame or readout")
    d.add_argument("protocol", choices=("kmp", "iec"))
    d.add_argument("input", nargs="+", help="HEX (one or several words), a FILE, or -")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_decode)

    r = sub.add_parser("read", help="read a meter through the optical head")
    r.add_argument("--port", required=True, help="serial device, pty, or pyserial URL (socket://h:p)")
    r.add_argument("--meter", help="meter model (see simulate --list)")
    r.add_argument("--protocol", choices=("kmp", "iec"))
    r.add_argument("--register", type=lambda s: int(s, 0), action="append",
                   help="extra KMP register id to read (repeatable)")
    r.add_argument("--max-baud", type=int, default=9600, help="IEC: fastest speed the head can do")
    r.add_argument("--address", default="", help="IEC: device address for the sign-on")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_read)

    s = sub.add_parser("scan", help="list the KMP registers a meter answers")
    s.add_argument("--port", required=True)
    s.add_argument("--range", default="1-1100", help="ids A-B, decimal or 0x (default 1-1100)")
    s.add_argument("--delay", type=float, default=2.0, help="seconds between requests (default 2)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_scan)

    t = sub.add_parser("echo-test", help="check the head hears its own light (LED, receiver, wiring)")
    t.add_argument("--port", required=True)
    t.add_argument("--baud", type=int, default=1200)
    t.add_argument("--framing", default="8N2", choices=("8N1", "8N2", "7E1", "7E2"))
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_echo_test)

    dt = sub.add_parser("detect", help="find what the meter on the head speaks and how to read it")
    dt.add_argument("--port", required=True)
    dt.add_argument("--listen-s", type=float, default=11.0,
                    help="seconds to listen for a pushing meter at each speed (default 11: "
                         "DSMR 2.2-4 push every 10 s)")
    dt.add_argument("--json", action="store_true")
    dt.set_defaults(func=cmd_detect)

    m = sub.add_parser("simulate", help="play a meter on a pty or TCP port")
    m.add_argument("meter", nargs="?")
    m.add_argument("--list", action="store_true", help="list the meters: NAME PROTOCOL DESCRIPTION")
    m.add_argument("--pty", action="store_true", help="serve on a new pty; its path is printed first")
    m.add_argument("--tcp", type=int, help="serve on 127.0.0.1:PORT (0 picks a free one)")
    m.add_argument("--speed", type=float, default=1.0, help="run the clock this many times faster")
    m.add_argument("--no-echo", action="store_true", help="no echo (for full-duplex heads)")
    m.add_argument("--need-magnet", action="store_true", help="answer only after the magnet is applied")
    m.add_argument("--magnet-file", help="the magnet: present while this file holds 1")
    m.add_argument("--awake-s", type=float, default=300.0,
                   help="with --need-magnet: seconds the eye stays on after the magnet is applied")
    m.add_argument("--lockout", help="N/PERIOD: stop answering after N requests within PERIOD s")
    m.add_argument("--lockout-release", type=float, help="seconds until a lock-out lifts by itself")
    m.add_argument("--garble", type=float, default=0.0, help="probability an answer is garbled")
    m.add_argument("--noise", action="store_true", help="line noise before answers")
    m.add_argument("--seed", type=int, help="random seed for faults")
    m.add_argument("--freeze", action="store_true", help="values stand still (for comparing readers)")
    m.add_argument("--log", help="append every command received as a JSON line to this file")
    m.add_argument("--seconds", type=float, help="stop after this many seconds")
    m.add_argument("--no-speed-check", action="store_true", help="do not check the pty's speed")
    m.set_defaults(func=cmd_simulate)

    e = sub.add_parser("demo", help="the firmware on unix MicroPython reading a simulated meter")
    e.add_argument("--speed", type=float, default=60.0, help="the simulated meter's clock speed")
    e.add_argument("--web-port", type=int, help="the reader's page on this port of 127.0.0.1 (default: a free one)")
    e.set_defaults(func=cmd_demo)

    w = sub.add_parser("watch", help="print the readings a broker carries (no mosquitto_sub needed)")
    w.add_argument("--broker", required=True, help="HOST or HOST:PORT (default port 1883)")
    w.add_argument("--prefix", default="metereye", help="the readers' topic prefix (default metereye)")
    w.add_argument("--discovery-prefix", default="homeassistant",
                   help="Home Assistant's discovery prefix, where the units come from (default homeassistant)")
    w.add_argument("--all", action="store_true", help="every topic and payload, like mosquitto_sub -v")
    w.add_argument("--user")
    w.add_argument("--password")
    w.add_argument("--seconds", type=float, help="stop after this many seconds")
    w.set_defaults(func=cmd_watch)

    dp = sub.add_parser("deploy", help="put the firmware on a board by cable (mpremote)")
    dp.add_argument("--port", help="the board's serial port (/dev/ttyUSB0), or a stand-in's pty")
    dp.add_argument("--config", help="a configuration file to write as the board's config.json "
                                     "(validated first; without it the board keeps its own)")
    dp.add_argument("--dry-run", action="store_true", help="list the files, their sizes and the total; "
                                                           "contact no board, change nothing")
    dp.add_argument("--follow", action="store_true", help="then reset the board and show its log until "
                                                          "the first reading is published (exit 0) or an error")
    dp.add_argument("--follow-timeout", type=float, default=180.0, help="seconds --follow waits (default 180)")
    dp.add_argument("--no-reset", action="store_true", help="leave the board at its REPL afterwards")
    dp.add_argument("--new-key", action="store_true", help="give the board a new update key")
    dp.add_argument("--tree", help="deploy the lib/ and firmware/ of another checkout (default: this one)")
    dp.set_defaults(func=cmd_deploy)

    cf = sub.add_parser("config", help="write a reader configuration file (asks for what flags do not give)")
    cf.add_argument("-o", "--out", default="config.json", help="file to write (default config.json)")
    cf.add_argument("--from", dest="source", help="start from this JSON file")
    cf.add_argument("--reader-id")
    cf.add_argument("--wifi-ssid")
    cf.add_argument("--wifi-password", help="(visible to other users in the process list: prefer the question)")
    cf.add_argument("--mqtt-host")
    cf.add_argument("--mqtt-port", type=int)
    cf.add_argument("--mqtt-user")
    cf.add_argument("--mqtt-password")
    cf.add_argument("--mqtt-tls", action="store_true")
    cf.add_argument("--meter", action="append",
                    help="MODEL or MODEL:key=value,… e.g. multical21:tx=17,rx=16,wake=25 (repeatable)")
    cf.add_argument("--web-password", help="password of the reader's page")
    cf.add_argument("--no-input", action="store_true", help="ask nothing: flags and --from only")
    cf.set_defaults(func=cmd_config)

    up = sub.add_parser("update", help="send the firmware to a reader over WiFi (signed bundle)")
    up.add_argument("--host", help="the reader's HOST[:PORT]")
    up.add_argument("--password", help="the page's password (else METEREYE_PASSWORD, else asked)")
    up.add_argument("--reader", help="whose update key signs the bundle (as saved by deploy)")
    up.add_argument("--key-file", help="sign with the key in this file instead")
    up.add_argument("--health-s", type=int, help="seconds the new set has to prove healthy (default 180)")
    up.add_argument("--out", help="write the bundle to this file instead of sending it")
    up.add_argument("--tree", help="build from another checkout (default: this one)")
    up.set_defaults(func=cmd_update)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
