"""SML telegrams as plain dicts: the shape `metereye decode sml --json` prints and
`read --json` reuses, in step with iec_json's conventions (docs/sml.md §8)."""

from metereye import sml
from metereye.errors import FrameError, IecNotSml, NotSml

EXIT_OK = 0
EXIT_CHECK = 1          # a CRC failed, the telegram is cut or does not parse: still listed
EXIT_NOTHING = 2        # no SML in the bytes (IEC 62056-21 text, noise, nothing)

NOTHING_TEXT = "nothing recognisable as SML (no start sequence 1B1B1B1B 01010101)"
REDUCED_TEXT = ("the meter sends its reduced data set (energy in whole kWh, no power): enter the "
                "PIN from your metering operator with a flashlight to unlock the full data set "
                "(docs/sml.md §6)")


# What to tell a person for errors whose own text is only their raw values.
_ERROR_TEXT = {
    "crc": "the telegram's CRC fails: bytes were damaged on the line (light from outside, the head's position)",
    "message_crc": "a message's own CRC fails although the transport CRC holds: the meter's data is inconsistent",
    "escape": "an escape sequence SML does not define: bytes were damaged or lost",
    "sml_syntax": "the CRC holds but the SML structure does not parse",
    "truncated": "the telegram is cut: it did not reach its end mark",
    "too_long": "longer than any telegram kept: no end mark where one was due",
}


def error_text(err):
    """One line for a person about an SML error event."""
    text = _ERROR_TEXT.get(err.token)
    if text is None:
        return str(err)
    return text + (" (%s)" % ", ".join(str(a) for a in err.args) if err.args else "")


def entry(e):
    """{"obis", "value", "unit", ["number"], "raw", "scaler", "unit_code", ["text"], ["status"]}."""
    out = {"obis": e.obis, "value": e.value, "unit": e.unit}
    if e.is_number:
        scaler = e.scaler or 0
        # The one place a float appears: JSON readers want a number too (as iec_json).
        out["number"] = e.raw * 10 ** scaler if scaler >= 0 else float(out["value"])
        out["raw"] = e.raw
    out["scaler"] = e.scaler
    out["unit_code"] = e.unit_code
    text = e.text
    if text is not None:
        out["text"] = text
    if e.status is not None:
        out["status"] = e.status
    if e.corrected is not None:
        out["corrected"] = e.corrected      # docs/sml.md §7: not what the bytes say by the spec
    if e.unit_code and e.unit is None:
        out["warning"] = "unknown unit %d" % e.unit_code
    return out


def meter(t):
    """{"manufacturer", "meter_id", "server_id"} of a Telegram."""
    return {
        "manufacturer": t.manufacturer,
        "meter_id": t.meter_id,
        "server_id": sml.hex_upper(t.server_id) if t.server_id else None,
    }


def telegram(t):
    """The dict of one Telegram (its error, if any, is the caller's)."""
    out = {
        "objects": [entry(e) for e in t.entries],
        "crc_ok": t.crc_ok,
        "crc": t.crc,
        "meter": meter(t),
        "messages": [{"tag": "0x%04X" % tag, "crc": used} for tag, used in t.messages],
        "length": t.length,
        "pad": t.pad,
        "reduced_data_set": t.reduced,
        "error": None,
    }
    if t.reduced:
        out["hint"] = REDUCED_TEXT
    return out


def decode(data, crc="auto"):
    """(dict, exit code) for a capture: the first telegram whose checks hold, else
    the first broken one, with what could be read of it. Exit 0 good, 1 a failed
    CRC (transport or message), a cut or unparsable telegram; 2 not SML."""
    return decode_events(sml.decode(data, crc))


def decode_events(events):
    """decode() of the events an SmlReader gave (fed in any chunks)."""
    good = None
    bad = None
    iec = None
    telegrams = 0
    for ev in events:
        if isinstance(ev, sml.Telegram):
            telegrams += 1
            if good is None:
                good = ev
        elif isinstance(ev, IecNotSml):
            iec = iec or ev
        elif isinstance(ev, FrameError):
            telegrams += 1
            if bad is None:
                bad = ev
    if good is not None:
        out = telegram(good)
        if bad is not None:
            out["warnings"] = ["%s: %s" % (bad.token, error_text(bad))]
    elif bad is not None:
        t = getattr(bad, "telegram", None)
        out = telegram(t) if t is not None else {"objects": [], "crc_ok": False, "crc": None,
                                                 "meter": None, "error": None}
        out["crc_ok"] = False
        out["error"] = bad.token
        out["message_text"] = error_text(bad)
    elif iec is not None:
        out = {"objects": [], "crc_ok": None, "crc": None, "meter": None,
               "error": iec.token, "message_text": str(iec), "parity_bit": bool(iec.args[0])}
    else:
        out = {"objects": [], "crc_ok": None, "crc": None, "meter": None,
               "error": NotSml.token, "message_text": NOTHING_TEXT}
    out["telegrams"] = telegrams
    return out, exit_code(out)


def exit_code(out):
    """0 ok; 1 a check failed or the telegram is cut; 2 nothing SML."""
    err = out["error"]
    if err is None:
        return EXIT_OK
    if err in (NotSml.token, IecNotSml.token):
        return EXIT_NOTHING
    return EXIT_CHECK


def result(t, protocol="sml"):
    """The same shape for a Telegram a read brought (`read --json`)."""
    out = telegram(t)
    out["protocol"] = protocol
    return out


# --- text for people ---------------------------------------------------------

def to_text(out):
    """decode()'s dict as lines a person reads: the meter, each entry with its
    value, unit and catalogue name, the check, and any error with what to do."""
    from metereye import obis       # the catalogue names the ids; only for people
    lines = []
    m = out.get("meter")
    if m:
        lines.append("meter: %s %s%s" % (m.get("manufacturer") or "?", m.get("meter_id") or "?",
                                         "  (server id %s)" % m["server_id"]
                                         if m.get("server_id") and m["server_id"] != m.get("meter_id") else ""))
    objects = out.get("objects") or []
    width = max([len(o["obis"]) for o in objects] + [4])
    for o in objects:
        keys = obis.keys(o["obis"], 1) if obis.lookup(o["obis"]) else [None]
        shown = o.get("text") or o["value"] or ""
        if o.get("unit"):
            shown += " " + o["unit"]
        lines.append("  %-*s  %s%s" % (width, o["obis"], shown, "  [%s]" % keys[0] if keys[0] else ""))
    if objects or out.get("crc_ok") is not None:
        crc = {"x25": "CRC-16/X-25", "kermit": "CRC-16/KERMIT"}.get(out.get("crc"), "CRC")
        check = "%s ok" % crc if out.get("crc_ok") else "CRC FAILED"
        lines.append("%d entr%s; %s" % (len(objects), "y" if len(objects) == 1 else "ies", check))
    if out.get("hint"):
        lines.append("note: " + out["hint"])
    if out.get("error"):
        lines.append("error: %s (%s)" % (out["error"], out.get("message_text", "")))
    for w in out.get("warnings", ()):
        lines.append("warning: " + w)
    return "\n".join(lines)
