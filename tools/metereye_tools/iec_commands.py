"""`metereye decode iec`, `read --protocol iec` and what `detect` asks an IEC
62056-21 or P1 meter: the IEC family's PC commands (lib/metereye/protocols.py),
with the same lib/ sessions the reader firmware runs.

Exit status as for KMP's read: 0 read; 1 garbled, a wrong meter, or nothing
came back at all (not even our own light); 3 silent although our light came
back (asleep or locked out).
"""

import sys
import time

from metereye import iec, iec_json
from metereye.meters import details
from metereye.meters.iec_profiles import ultraheat_model
from metereye_tools import cliutil, detection
from metereye_tools.cliutil import EXIT_FAILED, EXIT_OK, EXIT_USAGE, status_of
from metereye_tools.line import run_session

FAMILY = "iec"

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

PUSH_ADVICE = ("No telegram arrived: check the cable (a P1 port sends only while its data-request "
               "line is high, and its output is inverted), and the line speed: DSMR 4/5 run at "
               "115200 Bd 8N1, DSMR 2.2/3 and mode D meters at 9600 Bd 7E1.")
PUSH_GARBLED = ("Bytes arrived but no telegram passed its check: wrong line speed or framing, or "
                "an inverted signal (P1).")


# --- decode -------------------------------------------------------------------

def decode(data, as_json):
    """`metereye decode iec`: print the exchange, readout or telegram in `data`; the exit status."""
    result, status = iec_json.decode(data)
    if status == EXIT_USAGE and result.get("error") in (None, "not_iec", "garbage", "not_a_frame"):
        print("metereye decode: %s" % result.get("message_text", "nothing recognisable as IEC 62056-21"),
              file=sys.stderr)
        if not as_json:
            return status
    if as_json:
        cliutil.print_json(result)
    else:
        print(iec_json.to_text(result))
    return status


# --- read ---------------------------------------------------------------------

def read(args, row):
    """`metereye read --protocol iec [--meter PROFILE]`; the exit status."""
    profile = details(row[0]) if row else None
    if profile is not None and profile.protocol == "iec-d":
        return _read_push(args, profile)

    def new_session():
        if profile is not None:
            # A PC has the memory for every data set: keep all (the device keeps the profile's).
            return profile.session(address=args.address, keep_all=True,
                                   max_baud=min(args.max_baud, profile.max_baud))
        return iec.IecSession(address=args.address, max_baud=args.max_baud)

    session = new_session()
    retries = getattr(session, "retries", 0)
    session.retries = 0
    progress = cliutil.Progress()
    on_bytes = progress.receiving("read")
    try:
        progress.show("read: signing on at %d Bd…" % iec.INITIAL_BAUD)
        result = _run(args.port, session, on_bytes)
        if isinstance(result, iec.IecResult) and result.identification is None and retries \
                and result.outcome in ("asleep", "no_echo"):
            waited = time.monotonic()
            if result.outcome == "asleep":
                # Our own light came back and nothing else: before signing on again,
                # ask once in the other protocols' quick ways (a Kamstrup KMP meter
                # never answers an IEC sign-on).
                progress.show("read: no IEC answer; asking whether another kind of meter is there…")
                other = detection.ask_the_others(args.port, FAMILY)
                if other is not None:
                    progress.clear()
                    return _other_meter(args, profile, other)
            time.sleep(max(0.0, session.retry_delay_ms / 1000 - (time.monotonic() - waited)))
            progress.show("read: signing on again at %d Bd…" % iec.INITIAL_BAUD)
            again = new_session()
            again.retries = retries - 1
            first, result = result, _run(args.port, again, on_bytes)
            result.attempts += first.attempts
            result.bytes_sent += first.bytes_sent
            result.bytes_received += first.bytes_received
            result.echo_seen = result.echo_seen or first.echo_seen
    finally:
        progress.clear()
    if not isinstance(result, iec.IecResult):
        # Kamstrup's "/#1" variant (legacy_hash1, off by default): bare digit fields.
        return _report_fields(result, profile, args.json)
    return _report(args, profile, result)


def _run(port, session, on_bytes):
    line = cliutil.open_line(port, iec.INITIAL_BAUD, session.framing)
    try:
        return run_session(line, session, on_bytes=on_bytes)
    finally:
        line.close()


def _report(args, profile, result):
    out = iec_json.result(result, FAMILY)
    out["meter"] = profile.name if profile is not None else None
    out["fallback"] = result.fallback
    wrong = _signed_on_as(profile, result.identification)
    if wrong is not None:
        advice = ("asked for a %s, but what signed on is an %s. Read it with:\n%s"
                  % (profile.description, wrong.summary, detection.read_command(args.port, wrong)))
        out.update({"outcome": "wrong_meter", "error": "wrong_meter", "advice": advice,
                    "command": detection.read_command(args.port, wrong)})
    elif result.outcome != "ok":
        out["advice"] = cliutil.SILENT_ADVICE.get(result.outcome)
    if args.json:
        cliutil.print_json(out)
    else:
        print(iec_json.to_text(out))
        speed = "%d Bd" % result.baud
        if result.fallback:
            speed += " (it offered %s but did not switch: read again at 300)" % (
                iec_json.mode_c_text(result.identification.baud_char))
        print("mode %s at %s; %d sign-on%s, %d bytes sent, %d received" % (
            result.mode or "?", speed, result.attempts, "" if result.attempts == 1 else "s",
            result.bytes_sent, result.bytes_received))
    if wrong is not None:
        print("metereye read: wrong meter: %s" % out["advice"], file=sys.stderr)
        return EXIT_FAILED
    if result.outcome != "ok":
        print("metereye read: %s: %s" % (result.outcome, cliutil.SILENT_ADVICE.get(result.outcome, "")),
              file=sys.stderr)
    return status_of(result.outcome)


def _ident_text(ident):
    return "/" + ident.manufacturer + ident.baud_char + "".join("\\" + w for w in ident.enhanced) + ident.text


def _signed_on_as(profile, ident):
    """A Found for the meter that signed on, when it is not what `profile` reads; else None."""
    if profile is None or ident is None:
        return None
    name = _iec_model(ident)
    if name is None or name == profile.name:
        return None
    theirs = details(name)
    # The generic mode C profiles read any maker's meter; a maker's own profile only its meters.
    if theirs.protocol == profile.protocol and (not theirs.manufacturer or theirs.manufacturer == profile.manufacturer):
        return None
    return _found_iec_ident(ident)


def _other_meter(args, profile, found):
    """A read of an IEC meter met a meter of another protocol: say so, and how to read it."""
    asked = "the %s asked for (%s)" % (profile.name, profile.description) if profile is not None \
        else "an IEC 62056-21 meter"
    command = detection.read_command(args.port, found)
    advice = ("no IEC 62056-21 answer to our sign-on, but a %s: this is not %s. Read it with:\n%s\n"
              "(or run metereye detect --port %s)" % (found.summary, asked, command, detection.quote(args.port)))
    if args.json:
        cliutil.print_json({"protocol": FAMILY, "meter": profile.name if profile is not None else None,
                            "outcome": "wrong_meter", "error": "wrong_meter", "objects": [],
                            "found": {"protocol": found.protocol, "identity": found.identity},
                            "advice": advice, "command": command})
    print("metereye read: wrong meter: " + advice, file=sys.stderr)
    return EXIT_FAILED


def _report_fields(result, profile, as_json):
    if as_json:
        cliutil.print_json({"protocol": FAMILY, "meter": profile.name, "outcome": result.outcome,
                            "fields": result.fields})
    else:
        print("%s: %s" % (profile.description, " ".join(result.fields) or "nothing"))
    return status_of(result.outcome)


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
        "protocol": FAMILY,
    }


def _read_push(args, profile):
    from metereye.p1 import PushSession
    line = cliutil.open_line(args.port, profile.line_baud, profile.framing)
    progress = cliutil.Progress()
    try:
        progress.show("read: listening at %d Bd %s…" % (profile.line_baud, profile.framing))
        session = PushSession(profile.line_baud, profile.framing, PUSH_TIMEOUT_MS, max_field=4096)
        res = run_session(line, session, on_bytes=progress.receiving("read"))
    finally:
        progress.clear()
        line.close()
    out = _push_result(res)
    out["meter"] = profile.name
    if res.outcome != "ok":
        out["advice"] = PUSH_ADVICE if res.outcome == "silent" else PUSH_GARBLED
    if args.json:
        cliutil.print_json(out)
    else:
        print(iec_json.to_text(out))
        print("pushed at %d Bd %s; %d bytes received" % (res.baud, res.framing, res.bytes_received))
    if res.outcome != "ok":
        print("metereye read: %s: %s" % (res.outcome, out["advice"]), file=sys.stderr)
    return EXIT_OK if res.outcome == "ok" else EXIT_FAILED


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


def _probe_iec(port):
    session = iec.IecSession(wake=DETECT_PREROLL, ident_only=True)
    session.retries = 0         # one sign-on: each costs a battery meter
    line = cliutil.open_line(port, iec.INITIAL_BAUD, iec.FRAMING)
    try:
        return run_session(line, session)
    finally:
        line.close()


def _probe_push(port, baud, framing, listen_s):
    from metereye.p1 import PushSession
    line = cliutil.open_line(port, baud, framing)
    try:
        session = PushSession(baud, framing, int(listen_s * 1000), settle_ms=PUSH_SETTLE_MS,
                              max_field=4096)
        return run_session(line, session)
    finally:
        line.close()


def _found_iec_ident(ident):
    identity = iec_json.identification(ident)
    speed = {"A": "reads at 300 Bd", "B": "switches to %s by itself" % _baud(ident.baud),
             "C": "offers %s after our acknowledgement" % _baud(ident.baud)}[ident.mode[0]]
    summary = "IEC 62056-21 mode %s meter: identification %s (manufacturer %s); " \
              "signs on at 300 Bd 7E1 and %s" % (ident.mode, _ident_text(ident), ident.manufacturer, speed)
    return detection.Found("iec-" + ident.mode[0].lower(), 300, "7E1", identity, _iec_model(ident), summary)


def _baud(baud):
    return "%d Bd" % baud if baud else "a reserved speed"


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
        res.baud, res.framing, _ident_text(ident) if ident else "none", len(t.objects), check)
    model = _push_model(res)
    note = None if model else "no profile reads a push at %d Bd yet" % res.baud
    return detection.Found("iec-d", res.baud, res.framing, identity, model, summary, note)


def probes(listen_s):
    """What detect asks of an IEC meter: one sign-on (with the NUL pre-roll a battery
    meter needs), and, last, listening `listen_s` for a pushing meter at each of
    its usual speeds."""
    seen = {"foreign": False, "listened": False}

    def sign_on(port, tried):
        res = _probe_iec(port)
        tried.append({"probe": "IEC 62056-21 sign-on at 300 Bd 7E1 (NUL pre-roll)", "outcome": res.outcome,
                      "echo": res.echo_seen, "bytes": res.bytes_received})
        if res.identification is not None:
            return _found_iec_ident(res.identification)
        if res.blank_identification:
            meter = ultraheat_model(res)        # lib names the model from what the sign-on saw
            return detection.Found("iec-b", 300, "7E1", None, meter, "IEC 62056-21 mode B meter: blank "
                                   "lines where its identification goes, as the %s sends"
                                   % details(meter).description)
        # More than our own light came back, unreadable at 300 Bd: a meter talks at
        # another speed; a pushing meter is the likely one, listen for it at once.
        echo_len = len(DETECT_PREROLL) + 5
        seen["foreign"] = res.bytes_received > (echo_len if res.echo_seen else 0) + 4
        if seen["foreign"]:
            time.sleep(detection.PROBE_GAP_S)
            return listen(port, tried)
        return None

    def listen(port, tried):
        if seen["listened"]:
            return None
        seen["listened"] = True
        for baud, framing in ((9600, "7E1"), (115200, "8N1"), (2400, "7E1")):
            res = _probe_push(port, baud, framing, listen_s)
            tried.append({"probe": "listening for a push at %d Bd %s" % (baud, framing),
                          "outcome": res.outcome, "bytes": res.bytes_received})
            if res.outcome == "ok":
                return _found_push(res)
            if res.outcome == "silent" and not seen["foreign"]:
                return None         # nothing at all on the line: nothing pushes
        return None

    return [detection.Probe(detection.RANK_SIGN_ON, "IEC 62056-21 sign-on at 300 Bd 7E1", sign_on),
            detection.Probe(detection.RANK_LISTEN, "listening for a pushing meter (9600, 115200, 2400 Bd)",
                            listen)]
