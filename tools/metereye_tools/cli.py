"""`metereye`: decode, read, scan, detect and simulate meters from a PC with the
same lib/ code the reader runs; put the reader firmware on a board and update it.

This module only parses the command line and hands each command to the module
that does the work: a protocol family's own module for decode, read and
detect (the `tools` column of lib/metereye/protocols.py), and one module per
other command. Errors a command stops with (cliutil.CommandError), a port
that goes away and Ctrl-C all end here in one line, never a traceback.
"""

import argparse
import os
import re
import string
import sys
import textwrap

from metereye import meters, protocols
from metereye.errors import UnknownProtocol
from metereye_tools import cliutil, detection
from metereye_tools.cliutil import EXIT_HELP, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, CommandError
from metereye_tools.line import LineError


def family_module(family):
    """The PC module of a protocol family; CommandError when it is unknown or not installed."""
    try:
        return detection.family_module(family)
    except UnknownProtocol:
        raise CommandError("unknown protocol %r (known: %s)" % (family, ", ".join(protocols.families())),
                           EXIT_USAGE)
    except ImportError as e:
        raise CommandError("the PC side of %s is not installed here (%s)" % (family, e), EXIT_USAGE)


# --- decode -------------------------------------------------------------------

def looks_like_path(word):
    """A mistyped file name rather than hex: a folder separator, a letter
    extension (capture.bin), or no hex digit at all."""
    return ("/" in word or "\\" in word or re.search(r"\.[A-Za-z]\w*$", word) is not None
            or not any(c in string.hexdigits for c in word))


def read_input(words):
    """HEX words, a FILE, or - (stdin): the raw bytes. CommandError (exit 2) says
    which word is not hex, or that a file named so does not exist."""
    if len(words) == 1 and words[0] == "-":
        return sys.stdin.buffer.read()
    if len(words) == 1 and os.path.isfile(words[0]):
        with open(words[0], "rb") as f:
            return f.read()
    if len(words) == 1 and looks_like_path(words[0]):
        raise CommandError("no file named %s (and it is not hex either)" % words[0], EXIT_USAGE)
    text = "".join(words).replace(" ", "").replace(":", "")
    if text.lower().startswith("0x"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    for n, word in enumerate(words, 1):
        digits = word.replace(" ", "").replace(":", "")
        if n == 1 and digits.lower().startswith("0x"):
            digits = digits[2:]
        bad = [c for c in digits if c not in string.hexdigits]
        if bad:
            raise CommandError("not hex: %r in word %d (%s); give HEX bytes, a FILE, or - for standard input"
                               % (bad[0], n, word), EXIT_USAGE)
    raise CommandError("not hex: an odd number of hex digits (%d); each byte takes two" % len(text), EXIT_USAGE)


def cmd_decode(args):
    module = family_module(args.protocol)
    return module.decode(read_input(args.input), args.json)


# --- read, scan, detect --------------------------------------------------------

def cmd_read(args):
    row = meters.find(args.meter) if args.meter else None
    if args.meter and row is None:
        raise CommandError("unknown meter %r (see metereye simulate --list)" % args.meter, EXIT_USAGE)
    if row is None and not args.protocol:
        raise CommandError("give --meter MODEL (metereye simulate --list names them) or --protocol %s; "
                           "`metereye detect --port %s` finds which" % ("|".join(protocols.families()),
                                                                       detection.quote(args.port)), EXIT_USAGE)
    family = protocols.find(row[1]).family if row else args.protocol
    if args.protocol and args.protocol != family:
        raise CommandError("--meter %s speaks %s, not %s" % (args.meter, row[1], args.protocol), EXIT_USAGE)
    return family_module(family).read(args, row)


def cmd_scan(args):
    from metereye_tools import kmp_commands
    return kmp_commands.scan(args)


def cmd_detect(args):
    from metereye_tools.detect_command import detect
    return detect(args)


def cmd_echo_test(args):
    from metereye.echo import ECHO_OK, EchoTest
    from metereye_tools.line import run_session
    line = cliutil.open_line(args.port, args.baud, args.framing)
    try:
        result = run_session(line, EchoTest(args.baud, args.framing))
    finally:
        line.close()
    if args.json:
        cliutil.print_json({"outcome": result.outcome, "received_hex": result.received.hex(" "),
                            "advice": result.advice})
    else:
        print("echo test on %s at %d %s: %s" % (args.port, args.baud, args.framing, result.outcome))
        print(result.advice)
    return EXIT_OK if result.outcome == ECHO_OK else cliutil.EXIT_FAILED


# --- simulate -----------------------------------------------------------------

def cmd_simulate(args):
    import time
    from metereye_tools import simulator
    simulator.load_simulators()
    if args.list:
        for name, protocol, description in simulator.simulated_models():
            print("%s %s %s" % (name, protocol, description))
        return EXIT_OK
    if not args.meter or not (args.pty or args.tcp is not None):
        raise CommandError("give METER and --pty or --tcp PORT (or --list)", EXIT_USAGE)
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
        raise CommandError("unknown meter %r (see --list)" % args.meter, EXIT_USAGE)
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


# --- the commands of their own modules -----------------------------------------

def cmd_watch(args):
    from metereye_tools.watch import watch_command
    return watch_command(args)


def cmd_deploy(args):
    from metereye_tools.deploy_command import deploy_command
    return deploy_command(args)


def cmd_config(args):
    from metereye_tools.config_command import config_command
    return config_command(args)


def cmd_update(args):
    from metereye_tools.update_command import update_command
    return update_command(args)


def cmd_ports(args):
    from metereye_tools.serial_ports import print_ports
    return EXIT_OK if print_ports() else cliutil.EXIT_FAILED


# --- the command line ----------------------------------------------------------

def version():
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version
    try:
        return package_version("metereye")
    except PackageNotFoundError:
        return "(not installed)"


def _command(sub, name, summary, func, example, exits=EXIT_HELP, stopped="stopped by Ctrl-C"):
    """A subcommand whose --help gives what it does, an example and its exit statuses.
    `stopped`: the line Ctrl-C ends it with (None: Ctrl-C is its normal end, exit 0)."""
    p = sub.add_parser(name, help=summary, description=summary,
                       epilog="Example:\n  %s\n\n%s" % (example.replace("\n", "\n  "), textwrap.fill(exits, 79)),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func, stopped=stopped)
    return p


def build_parser():
    families = protocols.families()
    p = argparse.ArgumentParser(prog="metereye", description=__doc__.split("\n\n")[0],
                                epilog="Example:\n  metereye detect --port /dev/ttyUSB0\n\n"
                                       "`metereye COMMAND --help` describes each command.\n\n"
                                       + textwrap.fill(EXIT_HELP, 79),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="metereye %s" % version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = _command(sub, "decode", "decode a captured frame, exchange, readout or telegram", cmd_decode,
                 "metereye decode kmp 40 3F 10 00 44 28 04 43 00 00 21 5D A3 90 0D --json\n"
                 "metereye decode iec readout.bin",
                 "Exit status: 0 good frames; 1 a frame that failed its check (CRC, BCC, stuffing, truncated; "
                 "still printed); 2 input that is not a frame, not hex, or a file that does not exist; "
                 "130 stopped by Ctrl-C")
    d.add_argument("protocol", choices=families, help="the protocol family: %s" % ", ".join(families))
    d.add_argument("input", nargs="+", help="HEX (one or several words), a FILE, or -")
    d.add_argument("--json", action="store_true")

    r = _command(sub, "read", "read a meter through the optical head", cmd_read,
                 "metereye read --port /dev/ttyUSB0 --meter multical21\n"
                 "metereye read --port /dev/ttyUSB0 --protocol iec --max-baud 9600 --json",
                 stopped="stopped by Ctrl-C; nothing was read (the meter returns to idle by itself)")
    r.add_argument("--port", required=True, help="serial device, pty, or pyserial URL (socket://h:p)")
    r.add_argument("--meter", help="meter model (metereye simulate --list names them)")
    r.add_argument("--protocol", choices=families, help="without --meter: the protocol family to speak")
    r.add_argument("--register", type=lambda s: int(s, 0), action="append",
                   help="extra KMP register id to read (repeatable)")
    r.add_argument("--max-baud", type=int, default=9600, help="IEC: fastest speed the head can do")
    r.add_argument("--address", default="", help="IEC: device address for the sign-on")
    r.add_argument("--json", action="store_true")

    s = _command(sub, "scan", "list the KMP registers a meter answers", cmd_scan,
                 "metereye scan --port /dev/ttyUSB0 --range 1-1100",
                 "Exit status: 0 scanned; 1 no light back, or the port went away; 2 a bad --range; "
                 "3 the meter stopped answering (the message says where to resume); 130 stopped by Ctrl-C "
                 "(the message says where to resume)")
    s.add_argument("--port", required=True)
    s.add_argument("--range", default="1-1100", help="ids A-B, decimal or 0x (default 1-1100)")
    s.add_argument("--delay", type=float, default=2.0, help="seconds between requests (default 2)")
    s.add_argument("--json", action="store_true")

    t = _command(sub, "echo-test", "check the head hears its own light (LED, receiver, wiring)", cmd_echo_test,
                 "metereye echo-test --port /dev/ttyUSB0",
                 "Exit status: 0 our light came back; 1 it did not, or came back garbled; 2 usage; "
                 "130 stopped by Ctrl-C")
    t.add_argument("--port", required=True)
    t.add_argument("--baud", type=int, default=1200)
    t.add_argument("--framing", default="8N2", choices=("8N1", "8N2", "7E1", "7E2"))
    t.add_argument("--json", action="store_true")

    dt = _command(sub, "detect", "find what the meter on the head speaks and how to read it", cmd_detect,
                  "metereye detect --port /dev/ttyUSB0",
                  "Exit status: 0 a meter was found (the last line is the read command); 1 nothing came "
                  "back at all (the head); 2 usage; 3 our light came back but no meter answered (the "
                  "magnet, the head's position); 130 stopped by Ctrl-C")
    dt.add_argument("--port", required=True)
    dt.add_argument("--listen-s", type=float, default=detection.LISTEN_S,
                    help="seconds to listen for a pushing meter at each speed (default %g: "
                         "DSMR 2.2-4 push every 10 s)" % detection.LISTEN_S)
    dt.add_argument("--json", action="store_true")

    m = _command(sub, "simulate", "play a meter on a pty or TCP port", cmd_simulate,
                 "metereye simulate multical21 --pty --need-magnet --magnet-file /tmp/magnet\n"
                 "metereye simulate --list",
                 "Exit status: 0 stopped (Ctrl-C or --seconds); 2 an unknown meter or usage", stopped=None)
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

    e = _command(sub, "demo", "the firmware on unix MicroPython reading a simulated meter", cmd_demo,
                 "METEREYE_RUN_SECONDS=60 metereye demo",
                 "Exit status: 0 stopped (Ctrl-C or METEREYE_RUN_SECONDS); 1 a part did not start", stopped=None)
    e.add_argument("--speed", type=float, default=60.0, help="the simulated meter's clock speed")
    e.add_argument("--web-port", type=int, help="the reader's page on this port of 127.0.0.1 (default: a free one)")

    w = _command(sub, "watch", "print the readings a broker carries (no mosquitto_sub needed)", cmd_watch,
                 "metereye watch --broker 192.168.1.2",
                 "Exit status: 0 stopped (Ctrl-C or --seconds); 1 the broker could not be reached", stopped=None)
    w.add_argument("--broker", required=True, help="HOST or HOST:PORT (default port 1883)")
    w.add_argument("--prefix", default="metereye", help="the readers' topic prefix (default metereye)")
    w.add_argument("--discovery-prefix", default="homeassistant",
                   help="Home Assistant's discovery prefix, where the units come from (default homeassistant)")
    w.add_argument("--all", action="store_true", help="every topic and payload, like mosquitto_sub -v")
    w.add_argument("--user")
    w.add_argument("--password")
    w.add_argument("--seconds", type=float, help="stop after this many seconds")

    dp = _command(sub, "deploy", "put the firmware on a board by cable (mpremote)", cmd_deploy,
                  "metereye deploy --port /dev/ttyUSB0 --config kitchen.json --follow",
                  "Exit status: 0 deployed (with --follow: the reader published its first reading); 1 the "
                  "board refused, did not answer, or (--follow) did not work; 2 a bad configuration, a port "
                  "that does not exist, or usage; 130 stopped by Ctrl-C (the board still runs its previous "
                  "set)",
                  stopped="stopped by Ctrl-C; the board still runs its previous set, and the next deploy "
                          "completes this one")
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

    cf = _command(sub, "config", "write a reader configuration file (asks for what flags do not give)", cmd_config,
                  "metereye config -o kitchen.json --meter multical21:tx=17,rx=16,wake=25",
                  "Exit status: 0 written; 2 a bad or unknown value, named by its key (nothing written); "
                  "130 stopped by Ctrl-C (nothing written)",
                  stopped="stopped by Ctrl-C; nothing written")
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

    up = _command(sub, "update", "send the firmware to a reader over WiFi (signed bundle)", cmd_update,
                  "metereye update --host 192.168.1.50\nmetereye update --out update.bin",
                  "Exit status: 0 accepted (or the bundle written); 1 refused by the reader, or it could not "
                  "be reached; 2 no key for the reader, or usage; 130 stopped by Ctrl-C (a cut upload is "
                  "refused by the reader, which keeps its set)",
                  stopped="stopped by Ctrl-C; an upload cut short is refused by the reader, which keeps its set")
    up.add_argument("--host", help="the reader's HOST[:PORT]")
    up.add_argument("--password", help="the page's password (else METEREYE_PASSWORD, else asked)")
    up.add_argument("--reader", help="whose update key signs the bundle (as saved by deploy)")
    up.add_argument("--key-file", help="sign with the key in this file instead")
    up.add_argument("--health-s", type=int, help="seconds the new set has to prove healthy (default 180)")
    up.add_argument("--out", help="write the bundle to this file instead of sending it")
    up.add_argument("--tree", help="build from another checkout (default: this one)")

    _command(sub, "ports", "list this computer's serial ports, marking USB-serial adapters", cmd_ports,
             "metereye ports",
             "Exit status: 0 listed; 1 no serial port found; 130 stopped by Ctrl-C")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as e:
        print("metereye %s: %s" % (args.command, e), file=sys.stderr)
        return e.status
    except LineError as e:
        print("metereye %s: %s" % (args.command, e), file=sys.stderr)
        return cliutil.EXIT_FAILED
    except KeyboardInterrupt:
        if args.stopped is None:
            return EXIT_OK
        print("\nmetereye %s: %s" % (args.command, args.stopped), file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
