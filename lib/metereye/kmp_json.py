"""KMP frames and registers as plain dicts: the shape `metereye decode kmp --json`
prints and the reader's JSON API serves."""

from metereye import kmp
from metereye.errors import FrameError, NotAFrame
from metereye.meters.kamstrup import register_key


def register(reg):
    """{"id", "name", "unit", "value", "number", "raw", "exponent"} of a Register."""
    value = reg.value
    out = {
        "id": reg.id,
        "name": register_key(reg.id),
        "unit": reg.unit,
        "unit_code": reg.unit_code,
        "value": value,
        # The one place a float appears: JSON readers want a number too.
        "number": int(value) if reg.exponent >= 0 else float(value),
        "raw": reg.raw,
        "exponent": reg.exponent,
    }
    display = reg.display
    if display is not None:
        out["display"] = display
    if reg.unit is None:
        out["warning"] = "unknown unit %d" % reg.unit_code
    return out


def event(ev):
    """One reader event (Frame, ACK or FrameError) as a dict."""
    if ev is kmp.ACK:
        return {"frame": "ack"}
    if isinstance(ev, FrameError):
        frame = getattr(ev, "frame", None)
        out = {"frame": frame.direction if frame is not None else None, "crc_ok": False,
               "error": ev.token}
        if frame is not None and frame.cid is not None:
            out["cid"] = frame.cid
        return out
    out = {"frame": ev.direction, "cid": ev.cid, "crc_ok": True}
    if ev.address != kmp.ADDRESS_METER:
        out["address"] = ev.address
    if ev.warning:
        out["warning"] = ev.warning
    try:
        _application(ev, out)
    except FrameError as err:
        out["error"] = err.token
    return out


def _application(ev, out):
    data = ev.data
    if ev.cid == kmp.GET_REGISTER:
        if ev.direction == "request":
            out["registers"] = [{"id": rid, "name": register_key(rid)}
                                for rid in kmp.decode_requested_ids(data)]
        else:
            out["registers"] = [register(r) for r in kmp.decode_registers(data)]
    elif ev.cid == kmp.GET_TYPE and ev.direction == "response":
        out["meter_type"], out["software_revision"] = kmp.decode_type(data)
    elif ev.cid == kmp.GET_SERIAL and ev.direction == "response":
        out["serial"] = kmp.decode_serial(data)
    elif data:
        out["data_hex"] = " ".join("%02X" % b for b in data)


def decode(data):
    """(dict or list of dicts, exit code) for a capture: one frame, or several in a
    line (our echo, then the answer). Exit 0 good, 1 a frame failed its check,
    2 nothing that starts like a frame ({"error": "not_a_frame"})."""
    try:
        events = kmp.decode_frames(data)
    except NotAFrame:
        return {"error": "not_a_frame"}, 2
    dicts = [event(e) for e in events]
    status = 1 if any("error" in d for d in dicts) else 0
    return (dicts[0] if len(dicts) == 1 else dicts), status
