"""IEC 62056-21 / P1 messages as plain dicts: the shape `metereye decode iec --json`
prints and `read --json` reuses (issue 4, ANSWERS 11-13)."""

from metereye import iec
from metereye.decimal import parse_decimal
from metereye.errors import FrameError, FrameTooLong, NotAFrame, NotIec

EXIT_OK = 0
EXIT_CHECK = 1          # bcc, crc, truncated: what arrived is listed, but not whole
EXIT_NOTHING = 2        # nothing recognisable, or SML


def identification(ident, push=False):
    """{"manufacturer", "baud_char", "baud", "mode", "enhanced", "text"}, or None."""
    if ident is None:
        return None
    return {
        "manufacturer": ident.manufacturer,
        "baud_char": ident.baud_char,
        # For a push this is the character's table meaning, not the line speed
        # (DSMR 4/5 run at 115200 Bd whatever Z says, ANSWERS 11).
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
        # The one place a float appears: JSON readers want a number too (ANSWERS 13).
        out["number"] = parsed[0] if parsed[1] == 0 else float(text.strip())
    return out


def data_set(ds):
    return {"obis": ds.obis, "values": [value(p) for p in ds.values]}


def is_push(ident, requested, continued, end):
    """ANSWERS 11: a push shows no request before the identification, a frame that
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
    ack = None
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

    out = {"identification": None, "bcc_ok": None, "objects": [], "message": None, "error": None}
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
        if ack is iec.NAK:
            out["message"] = "nak"
        else:
            out["v"], out["z"], out["y"] = ack.v, ack.z, ack.y
    elif request is not None:
        out["message"] = "request"
        out["address"] = request.address
    elif sml:
        out["error"] = "not_iec"
        out["detail"] = "SML meter, not IEC 62056-21"
    else:
        out["error"] = NotAFrame.token
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
