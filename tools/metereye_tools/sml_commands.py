"""The PC's SML commands: decode a capture, read (listen to) a meter, probe a port.

Self-contained, so the CLI can call them through the protocol table's `tools`
module (lib/metereye/protocols.py, row "sml"):

    decode(data, as_json)      -> exit status   `metereye decode sml FILE|HEX [--json]`
    read(args, model_row)      -> exit status   `metereye read --port P --meter sml-ehz [--follow]`
    probe(port, seconds)       -> dict or None  one look for `metereye detect`

Exit status as elsewhere: 0 good; 1 a telegram failed its checks or the line
brought nothing good (garbled, silent); 2 the input is not SML.
"""

import json
import sys
import time

from metereye import sml, sml_json
from metereye.errors import IecNotSml, SevenBitLine

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# How long `read` and `probe` listen: an SML meter pushes every 1-4 s
# (docs/sml.md §1), so this holds a few telegrams, one damaged one included.
LISTEN_S = 15.0
PROBE_S = 6.0

ADVICE = {
    "silent": "Nothing arrived in %d s. An SML meter pushes every few seconds without being asked: "
              "check that the head sits on the meter's optical output (the upper diode on most eHZ), "
              "its wiring, and the port.",
    "garbled": "Bytes arrived but no telegram passed its CRC: check the head's position (light from "
               "outside), and the line: SML meters send 9600 Bd 8N1.",
    "seven_bits": "Every byte arrived with bit 7 clear: the line or the adapter runs 7 data bits. "
                  "Set it to 8N1.",
    "iec": "The meter speaks IEC 62056-21, not SML: read it with an IEC profile "
           "(metereye detect --port PORT says which).",
}


def _print_json(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def capture_bytes(data):
    """A capture as bytes: raw, or hex text (the form libsml-testing's .hex dumps take)."""
    text = data.strip()
    if text and all(c in b"0123456789abcdefABCDEF \t\r\n:" for c in text):
        try:
            return bytes.fromhex(text.replace(b":", b" ").decode("ascii"))
        except ValueError:
            pass
    return data


# --- decode -------------------------------------------------------------------

def decode(data, as_json=False, crc="auto"):
    """Decode a capture (raw bytes or hex text) and print it; the exit status.

    Prints decode()'s JSON with `as_json`, else the lines sml_json.to_text
    makes; a capture with no SML says so on stderr.
    """
    out, status = sml_json.decode(capture_bytes(data), crc)
    if status == EXIT_USAGE:
        print("metereye decode: %s" % out.get("message_text"), file=sys.stderr)
    if as_json:
        _print_json(out)
    elif status != EXIT_USAGE:
        print(sml_json.to_text(out))
    return status


# --- read ---------------------------------------------------------------------

def _open(port, baud, framing):
    from metereye_tools.line import LineError, SerialLine
    try:
        return SerialLine(port, baud, framing)
    except LineError as e:
        print("metereye: %s" % e, file=sys.stderr)
        return None


def _problem(errors, outcome):
    """The advice key for a read that brought no good telegram."""
    for err in errors:
        if isinstance(err, SevenBitLine):
            return "seven_bits"
        if isinstance(err, IecNotSml):
            return "iec"
    return outcome


def read(args, model_row=None):
    """`metereye read` for an SML meter: listen at 9600 8N1 (the model's line),
    print the first good telegram (`args.json` as JSON), or with `args.follow`
    every telegram until Ctrl-C. `args.port` is a device, pty or pyserial URL;
    `args.seconds` (optional) bounds the listening. The exit status."""
    from metereye.meters import details
    profile = details(model_row[0]) if model_row else None
    baud = profile.line_baud if profile else sml.LINE_BAUD
    framing = profile.framing if profile else sml.FRAMING
    seconds = getattr(args, "seconds", None) or LISTEN_S
    line = _open(args.port, baud, framing)
    if line is None:
        return EXIT_FAILED
    try:
        if getattr(args, "follow", False):
            return _follow(line, args, profile, seconds if getattr(args, "seconds", None) else None)
        from metereye_tools.line import run_session
        session = profile.session(keep_all=True, timeout_ms=int(seconds * 1000)) if profile \
            else sml.SmlSession(int(seconds * 1000), baud, framing)
        res = run_session(line, session)
    finally:
        line.close()
    if res.outcome == "ok":
        out = sml_json.result(res.telegram)
        out["meter_model"] = profile.name if profile else None
        _show(out, args.json)
        return EXIT_OK
    return _report_failure(res.outcome, res.errors, res.bytes_received, seconds, args.json)


def _show(out, as_json):
    if as_json:
        _print_json(out)
    else:
        print(sml_json.to_text(out) + "\n")


def _report_failure(outcome, errors, received, seconds, as_json):
    key = _problem(errors, outcome)
    advice = ADVICE[key] % seconds if key == "silent" else ADVICE.get(key, "")
    if as_json:
        _print_json({"protocol": "sml", "outcome": outcome, "error": key, "bytes_received": received,
                     "errors": [e.token for e in errors], "advice": advice})
    print("metereye read: %s: %s" % (key, advice), file=sys.stderr)
    return EXIT_FAILED


def _follow(line, args, profile, seconds):
    """Print every telegram (and every error) as it comes, until Ctrl-C or `seconds`."""
    reader = profile.listener(keep_all=True) if profile else sml.SmlReader()
    good = 0
    errors = []
    received = 0
    end = time.monotonic() + seconds if seconds else None
    try:
        while end is None or time.monotonic() < end:
            data = line.read(0.2)
            received += len(data)
            for ev in reader.feed(data):
                if isinstance(ev, sml.Telegram):
                    good += 1
                    out = sml_json.result(ev)
                    _show(out, args.json)
                else:
                    errors.append(ev)
                    print("telegram failed: %s: %s" % (ev.token, sml_json.error_text(ev)), file=sys.stderr)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    if good:
        return EXIT_OK
    return _report_failure("garbled" if received else "silent", errors, received, seconds or 0, args.json)


# --- detect -------------------------------------------------------------------

def probe(port, seconds=PROBE_S):
    """Listen ≤ `seconds` at 9600 8N1 for an SML telegram. What was found, or None:
    {"protocol": "sml", "model": "sml-ehz", "baud", "framing", "manufacturer",
    "meter_id", "reduced_data_set", "read": the read command}; a line that runs
    7 data bits gives {"protocol": "sml", "error": "seven_bits", "advice": …}."""
    from metereye_tools.line import run_session
    line = _open(port, sml.LINE_BAUD, sml.FRAMING)
    if line is None:
        return None
    try:
        res = run_session(line, sml.SmlSession(int(seconds * 1000)))
    finally:
        line.close()
    if res.outcome == "ok":
        t = res.telegram
        return {"protocol": "sml", "model": "sml-ehz", "baud": sml.LINE_BAUD, "framing": sml.FRAMING,
                "manufacturer": t.manufacturer, "meter_id": t.meter_id, "crc": t.crc,
                "reduced_data_set": t.reduced,
                "read": "metereye read --port %s --meter sml-ehz" % port}
    if _problem(res.errors, res.outcome) == "seven_bits":
        return {"protocol": "sml", "error": "seven_bits", "advice": ADVICE["seven_bits"]}
    return None
