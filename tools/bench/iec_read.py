"""Benchmark: reading the simulated mode C meter (Landis+Gyr ZMD120AP readout)
at real pace, at 300 Bd only and with the switch to 9600 Bd; decoding three of
the readouts with metereye, iec62056-21, iec62056 and dsmr-parser (µs each;
tools/bench/iec_decode.py gives readouts per second over all the real ones);
our decoder under unix MicroPython; the heap of an Ultraheat UH50 session in a 64K heap.

    .venv/bin/python tools/bench/iec_read.py

Prints figures; asserts nothing. The simulator paces 7E1 at 10 bits a
character, answers 200 ms (the standard's minimum reaction time) after each
message, and checks the pty's speed as its bytes leave.
"""

import os
import subprocess
import sys
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from simhelp import Sim  # noqa: E402
from testvectors import vectors, wire  # noqa: E402

from metereye import iec  # noqa: E402
from metereye.actions import wire_ms  # noqa: E402
from metereye_tools.line import SerialLine  # noqa: E402
from metereye_tools.line import run_session  # noqa: E402
from metereye_tools.mpy import build_lib  # noqa: E402

REACTION_S = 0.2
RUNS = 3


def _vector(vid):
    return next(wire(v) for v in vectors("iec_vectors.json") if v["id"] == vid)


def read_once(port, max_baud):
    """(seconds, result, bytes from the meter, bytes sent) of one read."""
    line = SerialLine(port, 300, "7E1")
    rx = bytearray()

    def tap(direction, data):
        if direction == "rx":
            rx.extend(data)

    session = iec.IecSession(max_baud=max_baud)
    start = time.monotonic()
    result = run_session(line, session, on_bytes=tap)
    took = time.monotonic() - start
    line.close()
    return took, result, bytes(rx)


def wire_limit(result, sent, readout_len, ident_len):
    """Seconds the bytes need on the wire, and with the standard's minimum
    reaction times (meter before its identification, before its data; the
    reader before its ACK)."""
    at300 = wire_ms(sent + ident_len, 300, "7E1")
    data = wire_ms(readout_len, result.baud, "7E1")
    bare = (at300 + data) / 1000
    return bare, bare + 3 * REACTION_S


def mode_c_reads():
    print("Mode C readout of `metereye simulate iec-electricity` at real pace (pty, no echo), %d runs each"
          % RUNS)
    captured = None
    with Sim("iec-electricity", "--no-echo") as sim:
        for label, max_baud in (("300 Bd only (ACK proposes '0')", 300), ("switch to 9600 Bd", 9600)):
            times = []
            for _ in range(RUNS):
                took, result, rx = read_once(sim.port, max_baud)
                assert result.outcome == "ok", result.outcome
                times.append(took)
                time.sleep(0.3)
            ident_len = rx.index(b"\n") + 1
            readout_len = len(rx) - ident_len
            sent = result.bytes_sent
            bare, with_reaction = wire_limit(result, sent, readout_len, ident_len)
            best = min(times)
            print("  %-32s measured %5.2f s (best of %d)  wire %5.2f s  +reactions %5.2f s  "
                  "ratio %4.2f / %4.2f   (%d B out, %d B ident, %d B readout at %d Bd)" % (
                      label, best, RUNS, bare, with_reaction, best / bare, best / with_reaction,
                      sent, ident_len, readout_len, result.baud))
            if max_baud == 9600:
                captured = rx
    return captured


def decode_speeds(captured):
    from iec62056 import parser as lark_parser
    from iec62056_21 import messages
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser
    samples = [
        ("ZMD mode C, as captured", captured),
        ("Ultraheat UH50 readout", _vector("ultraheat-uh50-reconstructed")),
        ("DSMR 5 telegram (Iskra)", _vector("dsmr50-iskra-mt382-1000")),
    ]
    lark = lark_parser.Parser()
    dsmr = TelegramParser(telegram_specifications.V5)

    def ours(data):
        r = iec.IecReader(4096)
        n = sum(1 for e in r.feed(data) if isinstance(e, iec.DataSet))
        r.finish()
        return n

    def theirs_21(data):
        return len(messages.AnswerDataMessage.from_bytes(data[data.index(b"\x02"):]).data)

    def theirs_lark(data):
        return len(lark.parse(data.decode("ascii")).data)

    def theirs_dsmr(data):
        return len(dsmr.parse(data.decode("ascii")))

    print("\nDecode speed on CPython %s (µs per readout, best of 5 × N)" % sys.version.split()[0])
    for name, data in samples:
        print("  %s, %d B:" % (name, len(data)))
        for who, fn, applies in (("metereye IecReader", ours, True),
                                 ("iec62056-21 0.0.2 AnswerDataMessage", theirs_21, b"\x02" in data),
                                 ("iec62056 0.5.1 (lark)", theirs_lark, True),
                                 ("dsmr-parser 1.11.2 V5", theirs_dsmr, b"!" in data and b"\x02" not in data)):
            if not applies:
                print("    %-38s does not apply" % who)
                continue
            try:
                n = fn(data)
            except Exception as e:                      # a peer that rejects the input: say how
                print("    %-38s rejects it: %s" % (who, type(e).__name__))
                continue
            number = 50
            best = min(timeit.repeat(lambda: fn(data), number=number, repeat=5)) / number
            print("    %-38s %9.1f µs  %3d data sets" % (who, best * 1e6, n))


MP_DECODE = r"""
import time, gc
from metereye import iec
data = open(%r, 'rb').read()
def run():
    r = iec.IecReader()
    n = 0
    for e in r.feed(data):
        if isinstance(e, iec.DataSet):
            n += 1
    r.finish()
    return n
n = run()
best = 10**9
for _ in range(5):
    t = time.ticks_us()
    for _ in range(20):
        run()
    best = min(best, time.ticks_diff(time.ticks_us(), t) / 20)
print(best, n)
"""


def micropython_decode(captured, tmp):
    env = dict(os.environ, MICROPYPATH=".frozen:" + build_lib())
    print("\nDecode speed on unix MicroPython (lib as .mpy; µs per readout, best of 5 × 20)")
    for name, data in (("ZMD mode C, as captured", captured),
                       ("Ultraheat UH50 readout", _vector("ultraheat-uh50-reconstructed")),
                       ("DSMR 5 telegram (Iskra)", _vector("dsmr50-iskra-mt382-1000"))):
        path = os.path.join(tmp, "sample.bin")
        with open(path, "wb") as f:
            f.write(data)
        run = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=128K", "-c", MP_DECODE % path],
                             capture_output=True, text=True, env=env)
        if run.returncode:
            print("  %s: failed: %s" % (name, (run.stdout + run.stderr).strip()[-200:]))
            continue
        us, n = run.stdout.split()
        print("  %-28s %9.1f µs  %3s data sets" % (name, float(us), n))


# An Ultraheat UH50 read on the device: the session with the profile's publish
# filter (7 of 66 data sets kept) fed the meter's answer in 64-byte chunks, as
# the UART hands it over, in a 64K heap; the heap's peak and what stays after a
# collection. The profile table itself is measured apart (it is imported once,
# with every other model, where the configuration names them).
MP_HEAP = r"""
import gc
gc.collect(); base0 = gc.mem_alloc()
from metereye.iec_session import IecSession
from metereye.actions import SetLine, Done
gc.collect(); imported = gc.mem_alloc()
answer = open(%r, 'rb')
gc.collect(); base = gc.mem_alloc()
s = IecSession(framing='7E2', max_baud=2400, wake=b'\x00' * 40 + b'/?!\r\n ', keep=%r)
a = s.start(0)
a = s.sent(2000)
now = 2000
peak = 0
while not isinstance(a, Done):
    if isinstance(a, SetLine):
        a = s.line_set(now)
        continue
    chunk = answer.read(64)       # what uart.read() hands over: a fresh bytes object
    now += 250
    a2 = s.received(chunk, now) if chunk else s.received(b'', now + 5000)
    used = gc.mem_alloc()
    if used > peak:
        peak = used
    if a2 is not None:
        a = a2
r = a.result
gc.collect(); after = gc.mem_alloc()
print(imported - base0, peak - base, after - base, r.outcome, r.datasets, len(r.objects), gc.mem_free())
"""

MP_PROFILES = r"""
import gc
from metereye import iec_session, obis
gc.collect(); a = gc.mem_alloc()
from metereye.meters import details
p = details('ultraheat-uh50')
gc.collect(); print(gc.mem_alloc() - a)
"""


def heap_uh50(tmp):
    from metereye.meters import details
    path = os.path.join(tmp, "uh50.bin")
    with open(path, "wb") as f:
        f.write(_vector("ultraheat-uh50-reconstructed"))
    env = dict(os.environ, MICROPYPATH=".frozen:" + build_lib())
    publish = tuple(details("ultraheat-uh50").publish)
    print("\nHeap: an Ultraheat UH50 session with its publish filter, unix MicroPython, .mpy")
    for heap in ("64K", "48K"):
        run = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=" + heap, "-c",
                              MP_HEAP % (path, publish)], capture_output=True, text=True, env=env)
        if run.returncode:
            print("  -X heapsize=%s: does not run: %s" % (heap, (run.stdout + run.stderr).strip().splitlines()[-1]))
            continue
        imported, peak, kept, outcome, seen, n, free = run.stdout.split()
        print("  -X heapsize=%s: import of metereye.iec_session (+ iec_stream, iec_message, iec_ident, actions, crc, errors, guard): %s B; the "
              "1044-byte readout in 64-byte chunks: peak %s B above the start, %s B kept after gc "
              "(%s data sets kept of %s seen, obis imported for the filter), outcome %s, %s B free"
              % (heap, imported, peak, kept, n, seen, outcome, free))
    run = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=256K", "-c", MP_PROFILES],
                         capture_output=True, text=True, env=env)
    if not run.returncode:
        print("  the model table and IEC profiles (metereye.meters, iec_profiles): %s B more"
              % run.stdout.strip())
    print("  (64-bit unix port: objects are about twice their ESP32 size; read these as upper bounds)")


def main():
    import tempfile
    captured = mode_c_reads()
    decode_speeds(captured)
    with tempfile.TemporaryDirectory() as tmp:
        micropython_decode(captured, tmp)
        heap_uh50(tmp)


if __name__ == "__main__":
    main()
