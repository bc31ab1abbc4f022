"""Benchmark: decoding the real IEC 62056-21 / P1 readouts of tests/vectors/iec_vectors.json
with metereye's IecReader (CPython and unix MicroPython), dsmr-parser and
iec62056-21, in one run; readouts per second, the ratios, and which readouts
each peer does not read as the vectors record them.

    .venv/bin/python tools/bench/iec_decode.py

The readouts: every vector that is not derived, that a correct parser accepts
(error null) and that holds something to decode (data sets, an identification
or a check). Each implementation gets each readout whole, as one chunk, and
decodes it completely (metereye: every event, finish() included); a readout a
peer rejects costs it only the time to reject. Prints figures; asserts nothing.
"""

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)

import metereye  # noqa: E402
from metereye import iec  # noqa: E402
from metereye_tools.mpy import compile_tree  # noqa: E402

REPEATS = 7             # best of
MIN_PASS_S = 0.2        # each timing runs whole passes over the readouts for at least this long


def readouts():
    """[(id, bytes, vector)] of the good real readouts, in the vectors' order."""
    with open(os.path.join(ROOT, "tests", "vectors", "iec_vectors.json"), encoding="utf-8") as f:
        items = json.load(f)["vectors"]
    return [(v["id"], bytes.fromhex(v["hex"].replace(" ", "")), v) for v in items
            if not v["derived"] and v["error"] is None
            and (v["objects"] or v["expected_ident"] or v["bcc_ok"] is not None)]


def expected(v):
    return [(o["obis"], [(x["value"], x["unit"]) for x in o["values"]]) for o in v["objects"]]


def rate(fn, items):
    """Readouts per second of fn over items: best of REPEATS timings of whole passes."""
    passes = 1
    while True:
        start = time.perf_counter()
        for _ in range(passes):
            for data in items:
                fn(data)
        took = time.perf_counter() - start
        if took >= MIN_PASS_S:
            break
        passes *= 2
    best = took
    for _ in range(REPEATS - 1):
        start = time.perf_counter()
        for _ in range(passes):
            for data in items:
                fn(data)
        best = min(best, time.perf_counter() - start)
    return len(items) * passes / best


# --- the three decoders ------------------------------------------------------

def metereye_decode(data):
    reader = iec.IecReader(4096)
    events = list(reader.feed(data))
    events.extend(reader.finish())
    return events


def metereye_sets(data):
    return [(ev.obis, ev.values) for ev in metereye_decode(data) if isinstance(ev, iec.DataSet)]


def _dsmr():
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser
    logging.disable(logging.CRITICAL)       # it logs every line it cannot parse
    parser = TelegramParser(telegram_specifications.V5)     # CRC checked (DSMR 4/5)
    return lambda data: parser.parse(data.decode("latin-1"))


def _iec62056_21():
    from iec62056_21 import messages
    return lambda block: messages.DataBlock.from_representation(block)


def data_block(data):
    """What iec62056-21's data-block parser takes, cut out for it: the last frame's
    text after its identification line and STX, up to "!" (or ETX). It has no
    parser for a whole readout, a push or a P1 telegram; this cutting is not timed."""
    start = 0
    i = data.rfind(b"/")
    while i >= 0 and data[i + 1:i + 2] == b"?":       # our request's echo
        i = data.rfind(b"/", 0, i)
    if i >= 0:
        start = data.find(b"\n", i) + 1 or len(data)
    stx = data.find(b"\x02", start)
    if stx >= 0:
        start = stx + 1
    end = data.find(b"!", start)
    if end < 0:
        end = data.find(b"\x03", start)
    return data[start:end if end >= 0 else len(data)].decode("latin-1")


# --- what a peer got right ---------------------------------------------------

def _line(obis, values):
    return obis + "".join("(" + v + ("" if u is None else "*" + u) + ")" for v, u in values) + "\r\n"


def _same_value(text, got):
    if isinstance(got, Decimal):
        try:
            return Decimal(text) == got
        except InvalidOperation:
            return False
    return True             # a date, a text or a list: dsmr-parser's own types, not compared


def judge_dsmr(telegram, want):
    """None when dsmr-parser found every data set with its value, else why not."""
    found = 0
    wrong = 0
    items = list(telegram.items())
    for obis, values in want:
        line = _line(obis, values)
        hit = next((obj for ref, obj in items if re.match(ref, line, re.DOTALL | re.MULTILINE)), None)
        if hit is None:
            continue
        found += 1
        value = getattr(hit, "value", None)
        if values and value is not None and not _same_value(values[-1][0], value):
            wrong += 1
    if found == len(want) and not wrong:
        return None
    return "finds %d of %d data sets%s" % (found, len(want), ", %d values differ" % wrong if wrong else "")


def judge_iec62056_21(block, want):
    got = []
    for ds in [s for line in block.data_lines for s in line.data_sets]:
        if ds.address is None and got:
            got[-1][1].append((ds.value, ds.unit))       # "(value)" continues the set before
        else:
            got.append((ds.address or "", [(ds.value, ds.unit)]))
    if got == want:
        return None
    same = sum(1 for a, b in zip(got, want) if a == b)
    return "%d data sets, %d of %d as recorded" % (len(got), same, len(want))


def verdicts(parse, prepare, judge, items):
    """{id: None (right) or what went wrong}."""
    out = {}
    for vid, data, v in items:
        try:
            result = parse(prepare(data))
        except Exception as e:                      # a peer that rejects the input: say how
            out[vid] = "rejects it (%s)" % type(e).__name__
            continue
        out[vid] = judge(result, expected(v))
    return out


# --- MicroPython ---------------------------------------------------------------

MP_SCRIPT = r"""
import time
from metereye.iec import IecReader
items = []
with open(%r, 'rb') as f:
    blob = f.read()
i = 0
while i < len(blob):
    n = blob[i] | blob[i + 1] << 8
    items.append(blob[i + 2:i + 2 + n])
    i += 2 + n

def decode_all():
    for data in items:
        r = IecReader(4096)
        r.feed(data)
        r.finish()

decode_all()
passes = 1
while True:
    t = time.ticks_us()
    for _ in range(passes):
        decode_all()
    took = time.ticks_diff(time.ticks_us(), t)
    if took >= 200000:
        break
    passes *= 2
best = took
for _ in range(%d):
    t = time.ticks_us()
    for _ in range(passes):
        decode_all()
    best = min(best, time.ticks_diff(time.ticks_us(), t))
print(len(items) * passes * 1e6 / best)
"""


def micropython_rate(items, tmp):
    """Readouts per second of the same lib, compiled to .mpy, under unix MicroPython."""
    lib = os.path.dirname(os.path.dirname(os.path.abspath(metereye.__file__)))
    out = os.path.join(tmp, "lib")
    compile_tree(lib, out)
    path = os.path.join(tmp, "readouts.bin")
    with open(path, "wb") as f:
        for data in items:
            f.write(bytes((len(data) & 0xFF, len(data) >> 8)) + data)
    run = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=1M", "-c",
                          MP_SCRIPT % (path, REPEATS - 1)],
                         capture_output=True, text=True, env=dict(os.environ, MICROPYPATH=out))
    if run.returncode:
        raise RuntimeError((run.stdout + run.stderr).strip()[-300:])
    return float(run.stdout.split()[-1])


def main():
    items = readouts()
    data = [d for _, d, _ in items]
    size = sum(len(d) for d in data)
    wrong = [vid for vid, d, v in items if metereye_sets(d) != expected(v)]
    print("%d real readouts of tests/vectors/iec_vectors.json, %d bytes; Python %s; metereye from %s"
          % (len(items), size, sys.version.split()[0], os.path.dirname(metereye.__file__)))
    print("metereye reads %d of %d as recorded%s" % (len(items) - len(wrong), len(items),
                                                     (": not " + ", ".join(wrong)) if wrong else ""))
    peers = (("dsmr-parser 1.11.2 (V5, CRC on)", _dsmr(), _whole, judge_dsmr),
             ("iec62056-21 0.0.2 (DataBlock, cut out)", _iec62056_21(), data_block, judge_iec62056_21))

    ours = rate(metereye_decode, data)
    rates = [("metereye IecReader, CPython", ours)]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            rates.append(("metereye IecReader, unix MicroPython (.mpy)", micropython_rate(data, tmp)))
        except (OSError, RuntimeError) as e:
            print("unix MicroPython: does not run: %s" % e)
    judged = []
    for name, parse, prepare, judge in peers:
        rates.append((name, rate(_quiet(parse), [prepare(d) for d in data])))
        judged.append((name, parse, prepare, verdicts(parse, prepare, judge, items)))

    print("\nreadouts per second, all %d readouts (ratio: metereye on CPython / it)" % len(items))
    for name, r in rates:
        print("  %-46s %9.0f /s   %5.2f" % (name, r, ours / r))

    print("\non the readouts each peer reads as recorded, metereye timed on the same ones")
    for name, parse, prepare, verdict in judged:
        right = [d for vid, d, _ in items if verdict[vid] is None]
        if not right:
            print("  %-46s reads none of them as recorded" % name)
            continue
        theirs = rate(_quiet(parse), [prepare(d) for d in right])
        mine = rate(metereye_decode, right)
        print("  %-46s %2d readouts: it %9.0f /s, metereye %9.0f /s   %5.2f" % (
            name, len(right), theirs, mine, mine / theirs))

    for name, _, _, verdict in judged:
        bad = [(vid, why) for vid, why in verdict.items() if why is not None]
        print("\n%s: %d of %d as recorded; not these:" % (name, len(items) - len(bad), len(items)))
        for vid, why in bad:
            print("  %-36s %s" % (vid, why))


def _whole(data):
    return data


def _quiet(parse):
    def run(data):
        try:
            parse(data)
        except Exception:       # timed like any other readout: rejecting costs what it costs
            pass
    return run


if __name__ == "__main__":
    main()
