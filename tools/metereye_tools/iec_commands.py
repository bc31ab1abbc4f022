"""`metereye read --protocol iec` and `metereye detect`: IEC 62056-21 and P1
meters from a PC, with the same lib/ sessions the reader firmware runs.

Exit status as for KMP's read: 0 read; 1 garbled, or nothing came back at all
(not even our own light); 3 silent although our light came back (asleep or
locked out). `detect` exits 0 when it found a meter, else 1 or 3 the same way.
"""

import sys

from metereye import iec, iec_json
from metereye.meters import MODELS, details
from metereye.meters.iec_profiles import ultraheat_model
from metereye_tools import cli
from metereye_tools.line import LineError, SerialLine, run_session

# What detect sends before its sign-on: a NUL pre-roll wakes a battery meter
# (Ultraheat UH50/T550 want one, docs/iec62056-21.md §6); mains meters skip noise before
# "/" (docs/iec62056-21.md §4), so the one sign-on serves every IEC meter.
DETECT_PREROLL = b"\x00" * 40
# How long `read` waits for a pushing meter's telegram: DSMR 2.2/3 push every
# 10 s, so two periods and the telegram's own time.
PUSH_TIMEOUT_MS = 25000
# detect: bytes at a push speed that show no identification line within this
# time come from a line at another speed.
PUSH_SETTLE_MS = 1500
# detect pauses between probes, so a meter that answered one has returned to
# its idle state before the next (IEC 62056-21: 1.5 s without a message).
PROBE_GAP_S = 0.3

PUSH_ADVICE = ("No telegram arrived: check the cable (a P1 port sends only while its data-request "
               "line is high, and its output is inverted), and the line speed: DSMR 4/5 run at "
               "115200 Bd 8N1, DSMR 2.2/3 and mode D meters at 9600 Bd 7E1.")
PUSH_GARBLED = ("Bytes arrived but no telegram passed its check: wrong line speed or framing, or "
                "an inverted signal (P1).")


def open_line(port, baud, framing):
    """The line, or None after saying why it could not be opened."""
    try:
        return SerialLine(port, baud, framing)
    except LineError as e:
        print("metereye: %s" % e, file=sys.stderr)
        return None


def _status(outcome):
    if outcome == "ok":
        return cli.EXIT_OK
    if outcome in ("asleep", "lockout"):
        return cli.EXIT_SILENT
    return cli.EXIT_FAILED


# --- read ---------------------------------------------------------------------

def read_iec(args, row):
    """`metereye read --protocol iec [--meter PROFILE]`; the exit status."""
    profile = details(row[0]) if row else None
    if profile is not None and profile.protocol == "iec-d":
        return _read_push(args, profile)
    if profile is not None:
        # A PC has the memory for every data set: keep all (the device keeps the profile's).
        session = profile.session(address=args.address, keep_all=True,
                                  max_baud=min(args.max_baud, profile.max_baud))
    else:
        session = iec.IecSession(address=args.address, max_baud=args.max_baud)
    line = open_line(args.port, iec.INITIAL_BAUD, session.framing)
    if line is None:
        return cli.EXIT_FAILED
    try:
        result = run_session(line, session)
    finally:
        line.close()
    if not isinstance(result, iec.IecResult):
        # Kamstrup's "/#1" variant (legacy_hash1, off by default): bare digit fields.
        return _report_fields(result, profile, args.json)
    out = iec_json.result(result, "iec")
    out["meter"] = profile.name if profile is not None else None
    out["fallback"] = result.fallback
    if result.outcome != "ok":
        out["advice"] = cli.SILENT_ADVICE.get(result.outcome)
    if args.json:
        cli._print_json(out)
    else:
        print(iec_json.to_text(out))
        speed = "%d Bd" % result.baud
        if result.fallback:
            speed += " (it offered %s but did not switch: read again at 300)" % (
                iec_json.mode_c_text(result.identification.baud_char))
        print("mode %s at %s; %d sign-on%s, %d bytes sent, %d received" % (
            result.mode or "?", speed, result.attempts, "" if result.attempts == 1 else "s",
            result.bytes_sent, result.bytes_received))
    if result.outcome != "ok":
        print("metereye read: %s: %s" % (result.outcome, cli.SILENT_ADVICE.get(result.outcome, "")),
              file=sys.stderr)
    return _status(result.outcome)


def _report_fields(result, profile, as_json):
    if as_json:
        cli._print_json({"protocol": "iec", "meter": profile.name, "outcome": result.outcome,
                         "fields": result.fields})
    else:
        print("%s: %s" % (profile.description, " ".join(result.fields) or "nothing"))
    return _status(result.outcome)


def _push_result(res):
    """The read/decode JSON shape for what a PushSession brought."""
    from metereye.errors import FrameError
    t = res.telegram
    error = None
    if res.outcome != "ok":
        errs = [e for e in res.errors if isinstance(e, FrameError)]
        error = errs[-1].token if errs else "silent"
    return {
        "identification": iec_json.identification(t.identification, push=True) if t else None,
        "bcc_ok": t.check_ok if t else None,
        "check": t.check if t else None,
        "objects": [iec_json.data_set(ds) for ds in t.objects] if t else [],
        "message": "readout",
        "error": error,
        "outcome": res.outcome,
        "mode": "D",
        "baud": res.baud,
        "protocol": "iec",
    }


def _read_push(args, profile):
    from metereye.p1 import PushSession
    line = open_line(args.port, profile.line_baud, profile.framing)
    if line is None:
        return cli.EXIT_FAILED
    try:
        session = PushSession(profile.line_baud, profile.framing, PUSH_TIMEOUT_MS, max_field=4096)
        res = run_session(line, session)
    finally:
        line.close()
    out = _push_result(res)
    out["meter"] = profile.name
    if res.outcome != "ok":
        out["advice"] = PUSH_ADVICE if res.outcome == "silent" else PUSH_GARBLED
    if args.json:
        cli._print_json(out)
    else:
        print(iec_json.to_text(out))
        print("pushed at %d Bd %s; %d bytes received" % (res.baud, res.framing, res.bytes_received))
    if res.outcome != "ok":
        print("metereye read: %s: %s" % (res.outcome, out["advice"]), file=sys.stderr)
    return cli.EXIT_OK if res.outcome == "ok" else cli.EXIT_FAILED


# --- detect -------------------------------------------------------------------

def _iec_model(ident):
    """The --meter for a meter that signed on with `ident`, or None (read generically)."""
    maker = ident.manufacturer.upper()
    text = ident.text.upper()
    mode = ident.mode
    if maker == "LUG" and mode == "B":
        # Landis+Gyr Ultraheat: the read needs its wake-up and 7E2 (docs/iec62056-21.md §6).
        return "ultraheat-t550" if "T550" in text or "UHT" in text else "ultraheat-uh50"
    if maker == "KAM" and mode == "A":
        return "multical66c"
    if mode[0] == "C":
        return "iec-electricity"
    return None


def _push_model(res):
    """The --meter for a pushing meter heard at res.baud, or None."""
    t = res.telegram
    ids = [ds.obis for ds in t.objects]
    if res.baud == 115200:
        return "dsmr-p1"
    if res.baud == 9600:
        # DSMR 2.2/3 telegrams carry the P1 version or the DSMR equipment id.
        dsmr = [i for i in ids if i.startswith("0-0:96.1.1") or i.startswith("1-3:0.2.8")]
        return "dsmr3-p1" if dsmr else "iec-push"
    return None


def _model_description(name):
    for row in MODELS:
        if row[0] == name:
            return row[3]
    return name


def _probe_iec(port):
    session = iec.IecSession(wake=DETECT_PREROLL, ident_only=True)
    session.retries = 0         # one sign-on: each costs a battery meter
    line = open_line(port, iec.INITIAL_BAUD, iec.FRAMING)
    if line is None:
        return None
    try:
        return run_session(line, session)
    finally:
        line.close()


def _probe_kmp(port, baud):
    from metereye import kmp
    # GetSerialNo first, GetType only if it answered: a silent meter is asked once.
    session = kmp.KmpSession([], want_serial=True, want_type=True, baud=baud)
    session.retries = 0
    line = open_line(port, baud, kmp.LINE_FRAMING)
    if line is None:
        return None
    try:
        return run_session(line, session)
    finally:
        line.close()


def _probe_push(port, baud, framing, listen_s):
    from metereye.p1 import PushSession
    line = open_line(port, baud, framing)
    if line is None:
        return None
    try:
        session = PushSession(baud, framing, int(listen_s * 1000), settle_ms=PUSH_SETTLE_MS,
                              max_field=4096)
        return run_session(line, session)
    finally:
        line.close()


def _echo(port):
    from metereye.echo import EchoTest
    line = open_line(port, 1200, "8N2")
    if line is None:
        return None
    try:
        return run_session(line, EchoTest(1200, "8N2"))
    finally:
        line.close()


class Found:
    """What detect found: protocol, line, identity, the --meter and the read command."""

    def __init__(self, protocol, baud, framing, identity, meter, summary, note=None):
        self.protocol = protocol
        self.baud = baud
        self.framing = framing
        self.identity = identity
        self.meter = meter
        self.summary = summary
        self.note = note


def read_command(port, found):
    """The exact `metereye read` line for what detect found (docs/decisions.md §17)."""
    words = ["metereye", "read", "--port", port]
    if found.meter:
        words += ["--meter", found.meter]
    else:
        words += ["--protocol", found.protocol.split("-")[0]]
    return " ".join(_quote(w) for w in words)


def _quote(word):
    safe = all(c.isalnum() or c in "/-_.:=@+," for c in word)
    return word if safe and word else "'" + word.replace("'", "'\\''") + "'"


def _found_iec(res):
    ident = res.identification
    identity = iec_json.identification(ident)
    speed = {"A": "reads at 300 Bd", "B": "switches to %s by itself" % _baud(ident.baud),
             "C": "offers %s after our acknowledgement" % _baud(ident.baud)}[ident.mode[0]]
    summary = "IEC 62056-21 mode %s meter: identification /%s%s%s (manufacturer %s); " \
              "signs on at 300 Bd 7E1 and %s" % (
                  ident.mode, ident.manufacturer, ident.baud_char,
                  "".join("\\" + w for w in ident.enhanced) + ident.text, ident.manufacturer, speed)
    return Found("iec-" + ident.mode[0].lower(), 300, "7E1", identity, _iec_model(ident), summary)


def _baud(baud):
    return "%d Bd" % baud if baud else "a reserved speed"


def _found_kmp(res, baud):
    identity = {"meter_type": res.meter_type,
                "software_revision": res.software_revision, "serial": res.serial}
    summary = "Kamstrup KMP meter at %d Bd 8N2: type %s, software revision %s, serial %s" % (
        baud, identity["meter_type"], res.software_revision, res.serial)
    note = ("the type code does not name the model (docs/kmp.md): for more than the water "
            "meter's registers add --meter with your model (metereye simulate --list)")
    if baud != 1200:
        note = "it answered at %d Bd; metereye read speaks KMP at 1200 Bd only" % baud
    return Found("kmp", baud, "8N2", identity, None, summary, note)


def _found_push(res):
    t = res.telegram
    ident = t.identification
    identity = iec_json.identification(ident, push=True) if ident else None
    ids = {ds.obis: ds for ds in t.objects}
    serial = None
    for key in ("0-0:96.1.1", "1-0:0.0.0*255", "0-0:96.1.255*255", "1-0:96.1.0"):
        if key in ids and ids[key].values:
            serial = ids[key].values[0][0]
            break
    if identity is not None and serial is not None:
        identity["serial"] = serial
    check = {"crc": "CRC-16 ok", None: "no check"}.get(t.check, t.check)
    summary = "pushing meter (IEC 62056-21 mode D / P1) at %d Bd %s: identification %s, %d data sets, %s" % (
        res.baud, res.framing, "/" + ident.manufacturer + ident.baud_char + "".join(
            "\\" + w for w in ident.enhanced) + ident.text if ident else "none",
        len(t.objects), check)
    model = _push_model(res)
    note = None if model else "no profile reads a push at %d Bd yet" % res.baud
    return Found("iec-d", res.baud, res.framing, identity, model, summary, note)


def detect(args):
    """`metereye detect --port PORT`: try each protocol once, cheapest for the meter first."""
    import time
    port = args.port
    tried = []
    found = None
    foreign = False

    res = _probe_iec(port)
    if res is None:
        return cli.EXIT_FAILED
    echo_len = len(DETECT_PREROLL) + 5
    tried.append({"probe": "IEC 62056-21 sign-on at 300 Bd 7E1 (NUL pre-roll)", "outcome": res.outcome,
                  "echo": res.echo_seen, "bytes": res.bytes_received})
    if res.identification is not None:
        found = _found_iec(res)
    elif res.blank_identification:
        meter = ultraheat_model(res)        # lib names the model from what the sign-on saw
        found = Found("iec-b", 300, "7E1", None, meter, "IEC 62056-21 mode B meter: blank lines where "
                      "its identification goes, as the %s sends" % _model_description(meter))
    else:
        # More than our own light came back, unreadable at 300 Bd: a meter talks at
        # another speed; a pushing meter is the likely one, listen for it first.
        foreign = res.bytes_received > (echo_len if res.echo_seen else 0) + 4

    probes = ["kmp1200", "kmp9600", "push"]
    if foreign:
        probes = ["push", "kmp1200", "kmp9600"]
    for probe in probes:
        if found is not None:
            break
        time.sleep(PROBE_GAP_S)
        if probe.startswith("kmp"):
            baud = int(probe[3:])
            kres = _probe_kmp(port, baud)
            if kres is None:
                return cli.EXIT_FAILED
            tried.append({"probe": "KMP GetSerialNo/GetType at %d Bd 8N2" % baud, "outcome": kres.outcome,
                          "echo": kres.echo_seen, "bytes": kres.bytes_received})
            if kres.serial is not None or kres.meter_type is not None:
                found = _found_kmp(kres, baud)
        else:
            for baud, framing in ((9600, "7E1"), (115200, "8N1"), (2400, "7E1")):
                pres = _probe_push(port, baud, framing, args.listen_s)
                if pres is None:
                    return cli.EXIT_FAILED
                tried.append({"probe": "listening for a push at %d Bd %s" % (baud, framing),
                              "outcome": pres.outcome, "bytes": pres.bytes_received})
                if pres.outcome == "ok":
                    found = _found_push(pres)
                    break
                if pres.outcome == "silent" and not foreign:
                    break           # nothing at all on the line: nothing pushes

    out = {"port": port, "found": found is not None, "tried": tried}
    status = cli.EXIT_OK
    if found is not None:
        command = read_command(port, found)
        out.update({"protocol": found.protocol, "baud": found.baud, "framing": found.framing,
                    "identity": found.identity, "meter": found.meter, "command": command})
        if found.note:
            out["note"] = found.note
        if args.json:
            cli._print_json(out)
            return status
        print("found: " + found.summary)
        if found.meter:
            print("model: %s (%s)" % (found.meter, _model_description(found.meter)))
        if found.note:
            print("note: " + found.note)
        print("read it with:")
        print(command)
        return status

    # Nothing answered: the one echo-test routine says whether our light comes back.
    from metereye.echo import ECHO_OK, GARBLED
    echo = _echo(port)
    if echo is None:
        return cli.EXIT_FAILED
    tried.append({"probe": "echo test at 1200 Bd 8N2", "outcome": echo.outcome})
    if echo.outcome == ECHO_OK:
        advice = ("No meter answered, but our own light came back, so the LED, the receiver and "
                  "the wiring work. Check the magnet (is one needed? turn it 180°), its place, and "
                  "the head's position and orientation on the meter's eye; then run detect again.")
        status = cli.EXIT_SILENT
    elif echo.outcome == GARBLED:
        advice = echo.advice
        status = cli.EXIT_FAILED
    else:
        advice = ("Nothing came back at all, not even our own light: check the wiring (TX/RX "
                  "swapped?), the head's supply, the LED (a phone camera shows it flash) and the "
                  "receiver's sensitivity; a meter with a wired port (P1) needs its cable and "
                  "data-request line instead.")
        status = cli.EXIT_FAILED
    out.update({"echo": echo.outcome, "advice": advice})
    if args.json:
        cli._print_json(out)
    else:
        for t in tried:
            print("tried: %s: %s" % (t["probe"], t["outcome"]))
        print("no meter found. " + advice)
    return status
