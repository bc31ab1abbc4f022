"""`metereye decode kmp`, `read` and `scan` of Kamstrup KMP meters, and what
`detect` asks them: the KMP family's PC commands (lib/metereye/protocols.py).

Which Kamstrup model answers cannot be told from its type code (docs/kmp.md §5:
the codes are not public), but the catalogues can tell the kinds apart: each
catalogue in lib/metereye/meters reads registers no other one does (the heat
meters' heat energy, the water meters' reverse volume). A read asks for those
of the other catalogues too, in the same requests, and refuses to name a
model whose kind did not answer.

Exit status: 0 read; 1 garbled, a wrong meter, or nothing came back at all
(not even our own light); 3 silent although our light came back (asleep or
locked out).
"""

import sys
import time

from metereye import kmp, kmp_json, meters, protocols
from metereye.meters.kamstrup import decode_info, register_key
from metereye_tools import cliutil, detection
from metereye_tools.cliutil import EXIT_FAILED, EXIT_OK, EXIT_SILENT, EXIT_STOPPED, EXIT_USAGE, CommandError
from metereye_tools.line import LineLost, run_session

FAMILY = "kmp"


# --- decode -------------------------------------------------------------------

def _maybe_hex_text(data):
    """A file or stdin that holds hex text rather than raw bytes (a KMP frame
    never consists of hex digits alone: it starts with 0x40, 0x80 or 0x06)."""
    text = data.decode("ascii", "replace").split()
    try:
        return bytes.fromhex("".join(text)) if text else data
    except ValueError:
        return data


def decode(data, as_json):
    """`metereye decode kmp`: print the frames in `data`; the exit status."""
    result, status = kmp_json.decode(_maybe_hex_text(data))
    if status == EXIT_USAGE:
        print("metereye decode: not a KMP frame (a frame starts with 0x80 or 0x40; "
              "an ACK is a lone 0x06)", file=sys.stderr)
        return status
    if as_json:
        cliutil.print_json(result)
        return status
    for d in (result if isinstance(result, list) else [result]):
        _print_frame(d)
    return status


def _print_frame(d):
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


# --- which kind of Kamstrup meter answered ---------------------------------------

class Catalogue:
    """The Kamstrup models that share one register catalogue (lib/metereye/meters)."""

    def __init__(self, module, models):
        self.module = module
        self.models = models
        self.reference = meters.details(models[0])
        self.ids = self.reference.register_ids
        self.own = []           # ids no other catalogue reads: what tells its meters apart

    def kind(self):
        """"the heat meters (multical302, multical402, …)" from the models' descriptions."""
        words = self.reference.description.split()
        return "the %ss (%s)" % (" ".join(words[-2:]), ", ".join(self.models))


def catalogues():
    """The KMP catalogues, in the model table's order, each with its own registers."""
    found = {}
    for name, protocol, module, _ in meters.MODELS:
        if protocols.find(protocol).family == FAMILY:
            found.setdefault(module, []).append(name)
    cats = [Catalogue(module, names) for module, names in found.items()]
    for c in cats:
        c.own = [i for i in c.ids if not any(i in o.ids for o in cats if o is not c)]
    return cats


def answers_like(registers, cats):
    """The catalogue whose own registers answered most, or None when none of any did."""
    best, score = None, 0
    for c in cats:
        n = sum(1 for i in c.own if i in registers)
        if n > score:
            best, score = c, n
    return best


def _type_text(meter_type, revision):
    return "type %s, software revision %s" % (meter_type, revision)


# --- read ---------------------------------------------------------------------

def read(args, row):
    """`metereye read --meter MODEL` (or --protocol kmp: every catalogue's registers); the exit status."""
    cats = catalogues()
    asked = next(c for c in cats if c.module == row[2]) if row else None
    model = meters.details(row[0]) if row else None
    if asked is not None:
        # One register of each other catalogue rides along: the requests stay as
        # few (8 ids each), and a meter of another kind shows itself.
        ids = list(asked.ids) + [c.own[0] for c in cats if c is not asked and c.own]
    else:
        ids = []
        for c in cats:
            ids += [i for i in c.ids if i not in ids]
    wanted = list(asked.ids) if asked else list(ids)
    ids += [i for i in (args.register or []) if i not in ids]
    wanted += [i for i in (args.register or []) if i not in wanted]
    line = cliutil.open_line(args.port, kmp.LINE_BAUD, kmp.LINE_FRAMING)
    progress = cliutil.Progress()
    typed = None
    try:
        progress.show("read: asking the meter at %d Bd %s…" % (kmp.LINE_BAUD, kmp.LINE_FRAMING))
        session = kmp.KmpSession(ids, want_serial=model is None or model.serial_register is None)
        result = run_session(line, session, on_bytes=progress.receiving("read"))
        like = answers_like(result.registers, cats)
        if asked is not None and like is not None and like is not asked:
            # Whatever answered is not what was asked for: its type says which meter it is.
            typed = run_session(line, kmp.KmpSession([], want_serial=False, want_type=True))
    finally:
        progress.clear()
        line.close()
    return _report(args, result, model, asked, like, wanted, typed)


def _report(args, result, model, asked, like, wanted, typed):
    regs = [result.registers[i] for i in wanted if i in result.registers]
    regs += [r for i, r in sorted(result.registers.items()) if i not in wanted]
    reference = model or (like.reference if like else None)
    serial = result.serial
    if serial is None and reference is not None and reference.serial_register in result.registers:
        serial = result.registers[reference.serial_register].raw
    wrong = typed is not None
    if model is not None and not wrong:
        identity = {"manufacturer": model.manufacturer, "model": model.name,
                    "description": model.description, "serial": serial}
    else:
        description = "Kamstrup KMP meter" + (" answering like %s" % like.kind() if like else "")
        identity = {"manufacturer": "Kamstrup", "model": None, "description": description,
                    "serial": serial, "answers_like": like.models if like else None}
    source = typed if wrong else result
    if source.meter_type:
        identity["meter_type"] = source.meter_type
        identity["software_revision"] = source.software_revision
    if 99 in result.registers and reference is not None:
        identity["info_flags"] = decode_info(result.registers[99].raw, reference.info_flags)
    outcome = "wrong_meter" if wrong else result.outcome
    if wrong:
        advice = _wrong_meter_advice(args.port, model, asked, like)
    else:
        advice = cliutil.SILENT_ADVICE.get(result.outcome)
        if result.outcome == "asleep":
            advice += (" If the meter is not a Kamstrup (KMP) meter, `metereye detect --port %s` finds what "
                       "it speaks." % detection.quote(args.port))
    if args.json:
        out = {"meter": identity, "protocol": FAMILY, "outcome": outcome,
               "registers": [kmp_json.register(r) for r in regs]}
        if outcome != "ok":
            out["error"] = outcome
            out["advice"] = advice
        if wrong:
            out["asked"] = model.name
            out["command"] = _read_protocol_command(args.port)
        cliutil.print_json(out)
    else:
        head = "%s, serial %s" % (identity["description"], serial if serial is not None else "unknown")
        if wrong:
            head += ", %s: not a %s" % (_type_text(identity.get("meter_type"), identity.get("software_revision")),
                                        model.description)
        print(head)
        for r in regs:
            print("  %-24s %14s %s" % (register_key(r.id), r.display or r.value, r.unit or ""))
        if identity.get("info_flags"):
            print("  info flags: %s" % ", ".join(identity["info_flags"]))
        print("  (%d requests, %d bytes sent, %d received)" % (
            result.requests, result.bytes_sent, result.bytes_received))
    if wrong:
        print("metereye read: wrong meter: %s" % advice, file=sys.stderr)
        return EXIT_FAILED
    if result.outcome != "ok":
        print("metereye read: %s: %s" % (result.outcome, advice or ""), file=sys.stderr)
    return cliutil.status_of(result.outcome)


def _read_protocol_command(port):
    return " ".join(detection.quote(w) for w in ("metereye", "read", "--port", port, "--protocol", FAMILY))


def _wrong_meter_advice(port, model, asked, like):
    theirs = ", ".join("%d (%s)" % (i, register_key(i)) for i in like.own[:1])
    ours = ", ".join(register_key(i) for i in asked.own[:3])
    return ("asked for a %s, but the meter answered register %s, which only %s have, and none of "
            "the %s's own (%s, …). Read it with:\n%s\n(that reads every Kamstrup register and names the "
            "kind; or give --meter with its model; `metereye detect --port %s` tells what answers)"
            % (model.description, theirs, like.kind(), model.description, ours,
               _read_protocol_command(port), detection.quote(port)))


# --- scan ---------------------------------------------------------------------

def parse_range(text):
    lo, _, hi = text.partition("-")
    lo, hi = int(lo, 0), int(hi or lo, 0)
    if not 0 <= lo <= hi <= 0xFFFF:
        raise ValueError(text)
    return lo, hi


def scan(args):
    """`metereye scan`: every register id of a range, 8 a request, throttled; the exit status."""
    try:
        lo, hi = parse_range(args.range)
    except ValueError:
        raise CommandError("--range takes A-B, decimal or 0x ids from 0 to 65535", EXIT_USAGE)
    line = cliutil.open_line(args.port, kmp.LINE_BAUD, kmp.LINE_FRAMING)
    progress = cliutil.Progress()
    found = []
    status = EXIT_OK
    resume = None               # the first id not asked yet, when the scan ended early
    parts = kmp.batches(list(range(lo, hi + 1)))
    total = hi - lo + 1
    try:
        for n, part in enumerate(parts):
            resume = part[0]
            progress.show("scan: ids %d-%d (%d of %d done), %d answered" % (
                part[0], part[-1], part[0] - lo, total, len(found)))
            if n:
                time.sleep(args.delay)      # throttled: the meter rations its port
            session = kmp.KmpSession(part, want_serial=False)
            session.retries = 0
            result = run_session(line, session)
            if result.outcome in ("asleep", "no_echo", "lockout") and not result.registers:
                progress.clear()
                print("metereye scan: the meter stopped answering at id %d; resume later with "
                      "--range %d-%d" % (part[0], part[0], hi), file=sys.stderr)
                status = EXIT_SILENT if result.outcome != "no_echo" else EXIT_FAILED
                break
            for rid in part:
                reg = result.registers.get(rid)
                if reg is not None:
                    found.append(reg)
                    if not args.json:
                        progress.clear()
                        print("%5d 0x%04X %-26s %14s %s" % (reg.id, reg.id, register_key(reg.id),
                                                           reg.display or reg.value, reg.unit or ""))
                        sys.stdout.flush()
        else:
            resume = None
    except KeyboardInterrupt:
        progress.clear()
        print("metereye scan: stopped by Ctrl-C at id %d, %d registers answered; resume with --range %d-%d"
              % (resume, len(found), resume, hi), file=sys.stderr)
        status = EXIT_STOPPED
    except LineLost as e:
        progress.clear()
        print("metereye scan: %s; resume with --range %d-%d" % (e, resume, hi), file=sys.stderr)
        status = EXIT_FAILED
    finally:
        progress.clear()
        line.close()
    if args.json:
        out = {"range": [lo, hi], "registers": [kmp_json.register(r) for r in found]}
        if resume is not None:
            out["resume"] = "%d-%d" % (resume, hi)
        cliutil.print_json(out)
    else:
        print("%d registers answered in %d-%d" % (len(found), lo, hi))
    return status


# --- detect -------------------------------------------------------------------

def probes(listen_s):
    """What detect asks a KMP meter: GetSerialNo, then GetType, at 1200 and at 9600 Bd
    (a KMP meter never pushes: `listen_s` is not used)."""
    return [detection.Probe(detection.RANK_ASK, _probe_label(1200),
                            lambda port, tried: probe_at(port, 1200, tried), quick=True),
            detection.Probe(detection.RANK_ASK + 1, _probe_label(9600),
                            lambda port, tried: probe_at(port, 9600, tried))]


def _probe_label(baud):
    return "KMP GetSerialNo/GetType at %d Bd %s" % (baud, kmp.LINE_FRAMING)


def probe_at(port, baud, tried):
    """Ask once at `baud`; a Found when a KMP meter answered, else None."""
    # GetSerialNo first, GetType only if it answered: a silent meter is asked once.
    session = kmp.KmpSession([], want_serial=True, want_type=True, baud=baud)
    session.retries = 0
    line = cliutil.open_line(port, baud, kmp.LINE_FRAMING)
    try:
        res = run_session(line, session)
    finally:
        line.close()
    tried.append({"probe": _probe_label(baud), "outcome": res.outcome,
                  "echo": res.echo_seen, "bytes": res.bytes_received})
    if res.serial is None and res.meter_type is None:
        return None
    identity = {"meter_type": res.meter_type, "software_revision": res.software_revision, "serial": res.serial}
    summary = "Kamstrup KMP meter at %d Bd %s: %s, serial %s" % (
        baud, kmp.LINE_FRAMING, _type_text(res.meter_type, res.software_revision), res.serial)
    note = ("the type code does not name the model (docs/kmp.md): this reads every Kamstrup register and "
            "says which kind of meter answers; add --meter with your model for its name "
            "(metereye simulate --list)")
    if baud != kmp.LINE_BAUD:
        note = "it answered at %d Bd; metereye read speaks KMP at %d Bd only" % (baud, kmp.LINE_BAUD)
    return detection.Found("kmp", baud, kmp.LINE_FRAMING, identity, None, summary, note)
