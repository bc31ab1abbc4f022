"""IEC 62056-21 / P1 messages as plain dicts: the shape `metereye decode iec --json`
prints and `read --json` reuses (docs/decisions.md §11-13)."""

from metereye import iec
from metereye.decimal import parse_decimal
from metereye.errors import FrameError, FrameTooLong, NotAFrame, NotIec

EXIT_OK = 0
EXIT_CHECK = 1          # bcc, crc, truncated: what arrived is listed, but not whole
EXIT_NOTHING = 2        # nothing recognisable, or SML

# The one line a person sees when exit status 2 says nothing was recognised (docs/decisions.md §12).
SML_TEXT = "SML meter, not IEC 62056-21"
NOTHING_TEXT = "nothing recognisable as IEC 62056-21 (no identification, no data set)"


def identification(ident, push=False):
    """{"manufacturer", "baud_char", "baud", "mode", "enhanced", "text"}, or None."""
    if ident is None:
        return None
    return {
        "manufacturer": ident.manufacturer,
        "baud_char": ident.baud_char,
        # For a push this is the character's table meaning, not the line speed
        # (DSMR 4/5 run at 115200 Bd whatever Z says, docs/decisions.md §11).
        "baud": ident.baud,
        "mode": "D" if push else ident.mode,
        "enhanced": list(ident.enhanced),
        "text": ident.text,
    }


def value(pair):
    """{"value", "unit"[, "number"]} of one (value, unit) pair."""
    text, unit = pair
    out = {"value": text, "unit": unit}
    parsed = parse_decimal(text)
    if parsed is not None:
        # The one place a float appears: JSON readers want a number too (docs/decisions.md §13).
        out["number"] = parsed[0] if parsed[1] == 0 else float(text.strip())
    return out


def data_set(ds):
    return {"obis": ds.obis, "values": [value(p) for p in ds.values]}


def is_push(ident, requested, continued, end):
    """docs/decisions.md §11: a push shows no request before the identification, a frame that
    goes on after it, and no STX (or a P1 CRC after "!"). A mode B meter changes
    speed after its identification, which a push never does: its stripped
    captures stay B (vector ultraheat-uh50-vpathuis-stripped)."""
    if ident is None or requested or not continued or ident.mode == "B":
        return False
    return end is None or not end.framed or end.check == "crc"


def decode(data, max_field=4096):
    """(dict, exit code) for a capture: readout, exchange, identification, P1
    telegram, request, ACK or command message. The first readout (or command)
    is shown; bytes before the first "/" are skipped with a warning. The field
    limit is the PC's: DSMR text messages run to 2048 hex digits."""
    reader = iec.IecReader(max_field)
    events = list(reader.feed(data))
    events.extend(reader.finish())
    return decode_events(events, reader.skipped)


def decode_events(events, skipped=0):
    """decode() of the events an IecReader gave (fed in any chunks)."""
    ident = None
    requested = False       # a request came before the identification shown
    asked = False           # a request came since the last identification
    request = None
    ack: "iec.Ack | iec.Nak" = None
    cmd = None
    objects = []
    continued = False       # the frame went on after its identification
    end = None
    error = None
    done = False
    sml = False
    warnings = []
    for ev in events:
        if isinstance(ev, iec.DataSet):
            if not done:
                objects.append(ev)
                continued = True
        elif isinstance(ev, iec.End):
            if not done:
                end = ev
                done = continued = True
        elif isinstance(ev, iec.Identification):
            if not done and not objects and not continued:
                ident = ev          # a bare identification gives way to a later frame
                requested = asked
            asked = False
        elif isinstance(ev, iec.Request):
            if request is None:
                request = ev
            asked = True
        elif isinstance(ev, iec.Ack):
            if ack is None:
                ack = ev
        elif isinstance(ev, iec.Command):
            if cmd is None and not done:
                cmd = ev
        elif isinstance(ev, NotIec):
            sml = True
        elif isinstance(ev, FrameError):
            e_end = getattr(ev, "end", None)
            if e_end is not None:
                if not done:
                    end = e_end
                    error = ev
                    done = True
                    continued = continued or e_end.framed or bool(objects)
            elif isinstance(ev, FrameTooLong):
                if error is None and not done:
                    error = ev
            elif not isinstance(ev, NotAFrame):
                warnings.append(ev.token + (": " + str(ev.args[0]) if ev.args else ""))
        elif ev is iec.NAK:
            if ack is None:
                ack = ev

    out: dict = {"identification": None, "bcc_ok": None, "objects": [], "message": None, "error": None}
    if skipped:
        warnings.append("%d bytes before the first message skipped" % skipped)
    if ident is not None or objects or end is not None:
        push = is_push(ident, requested, continued, end)
        out["identification"] = identification(ident, push)
        if cmd is not None:
            out["message"] = "command"
            out["command"] = cmd.command
        elif objects or end is not None:
            out["message"] = "readout"
        else:
            out["message"] = "identification"
        if end is not None:
            out["bcc_ok"] = end.ok
            if end.check is not None:
                out["check"] = end.check        # which check bcc_ok reports: "bcc" or "crc"
        out["objects"] = [data_set(ds) for ds in objects]
        if error is not None:
            out["error"] = error.token
        if sml:
            warnings.append("SML bytes as well")
    elif cmd is not None:
        out["message"] = "command"
        out["command"] = cmd.command
    elif ack is not None:
        out["message"] = "ack"
        if isinstance(ack, iec.Nak):
            out["message"] = "nak"
        else:
            out["v"], out["z"], out["y"] = ack.v, ack.z, ack.y
    elif request is not None:
        out["message"] = "request"
        out["address"] = request.address
    elif sml:
        out["error"] = "not_iec"
        out["detail"] = out["message_text"] = SML_TEXT
    else:
        out["error"] = NotAFrame.token
        out["message_text"] = NOTHING_TEXT
    if request is not None and out["message"] != "request":
        out["address"] = request.address
    if warnings:
        out["warnings"] = warnings
    return out, exit_code(out)


def exit_code(out):
    """0 ok; 1 when a check failed or the frame is cut; 2 when nothing was recognised."""
    err = out["error"]
    if err is None:
        return EXIT_OK
    if err == "not_iec" or err == NotAFrame.token:
        return EXIT_NOTHING
    return EXIT_CHECK


def result(res, protocol=None):
    """The same shape for an IecResult (`read --json`)."""
    out = {
        "identification": identification(res.identification),
        "bcc_ok": res.bcc_ok,
        "check": res.check,
        "objects": [data_set(ds) for ds in res.objects],
        "message": "readout",
        "error": res.errors[-1].token if res.errors and res.outcome != "ok" else None,
        "outcome": res.outcome,
        "mode": res.mode,
        "baud": res.baud,
    }
    if protocol is not None:
        out["protocol"] = protocol
    return out


# --- text for people ---------------------------------------------------------

_MODE_CONTROL = {"0": "data readout", "1": "programming", "2": "binary (HDLC)"}


def _baud_text(ident):
    if ident["mode"] == "D":
        return "pushes; '%s' is no line speed" % ident["baud_char"]
    if ident["baud"] is None:
        return "reserved speed character %r" % ident["baud_char"]
    if ident["mode"] == "A":
        return "300 Bd only"
    return "%s %d Bd" % ("switches to" if ident["mode"] == "B" else "offers", ident["baud"])


def _check_text(out):
    ok = out.get("bcc_ok")
    kind = "CRC" if out.get("check") == "crc" else "BCC"
    if ok is True:
        return "check: %s ok" % kind
    if ok is False:
        return "check: %s FAILED" % kind
    if out.get("error") == "truncated":
        return "check: none (the frame is cut)"
    return "check: none in these bytes"


def to_text(out):
    """decode()'s (or result()'s) dict as lines a person reads: identification,
    each data set with its values, units and catalogue name, and the check."""
    from metereye import obis        # the catalogue names the ids; only for people
    lines = []
    ident = out.get("identification")
    if ident is not None:
        enhanced = "".join("\\" + w for w in ident["enhanced"])
        lines.append("identification: /%s%s%s%s  (manufacturer %s, mode %s, %s)" % (
            ident["manufacturer"], ident["baud_char"], enhanced, ident["text"],
            ident["manufacturer"], ident["mode"], _baud_text(ident)))
    message = out.get("message")
    if message == "request":
        lines.append("request: sign-on%s" % (" for device %r" % out["address"] if out.get("address") else ""))
    elif message == "ack":
        z = out.get("z")
        baud = mode_c_text(z)
        lines.append("acknowledgement: protocol %s, speed %s (%s), mode %s (%s)" % (
            out.get("v"), z, baud, out.get("y"), _MODE_CONTROL.get(out.get("y"), "manufacturer's")))
    elif message == "nak":
        lines.append("NAK: the other side asks for the last message again")
    elif message == "command":
        lines.append("command: %s%s" % (out.get("command"), "  (writes to the meter)"
                                        if (out.get("command") or " ")[0] in "WE" else ""))
    objects = out.get("objects") or []
    width = max([len(o["obis"]) for o in objects] + [4])
    for o in objects:
        row = obis.lookup(o["obis"]) if o["obis"] else None
        keys = obis.keys(o["obis"], len(o["values"])) if row else [None] * len(o["values"])
        shown = []
        for v, key in zip(o["values"], keys):
            text = v["value"] + (" " + v["unit"] if v.get("unit") else "")
            shown.append(text + ("  [%s]" % key if key else ""))
        lines.append("  %-*s  %s" % (width, o["obis"] or "(no id)", "   ".join(shown) if shown else ""))
    if message in ("readout", "command") or ident is not None:
        lines.append("%d data set%s; %s" % (len(objects), "" if len(objects) == 1 else "s", _check_text(out)))
    if out.get("error"):
        lines.append("error: %s%s" % (out["error"], " (" + out["message_text"] + ")"
                                      if out.get("message_text") else ""))
    for w in out.get("warnings", ()):
        lines.append("warning: %s" % w)
    return "\n".join(lines)


def mode_c_text(z):
    """"9600 Bd" for a mode C speed character, "?" for another."""
    if z is not None and "0" <= z <= "6":
        return "%d Bd" % iec.mode_c_baud(z)
    return "?"
