"""Benchmark: reading the full Multical 21 set at 1200 Bd, three ways, plus
the heap of decoding an answer and the CRC's speed under unix MicroPython.

    .venv/bin/python tools/bench/kmp_read.py

Prints figures; asserts nothing. Each way reads `metereye simulate multical21`
at real pace over a pty (the simulator paces both directions at 8N2, 11 bits a
byte, and answers 50 ms after a request).
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from metereye import kmp, meters  # noqa: E402
from metereye_tools.line import SerialLine, run_session  # noqa: E402
from metereye_tools.mpy import build_lib  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from simhelp import Sim  # noqa: E402
from testvectors import vectors  # noqa: E402

BITS = 11
BAUD = 1200


def wire_s(nbytes):
    return nbytes * BITS / BAUD


def ours(port, ids, per_request):
    line = SerialLine(port)
    start = time.monotonic()
    requests = sent = got = 0
    values = {}
    groups = [[i] for i in ids] if per_request == 1 else [ids]
    for group in groups:
        result = run_session(line, kmp.KmpSession(group, want_serial=False))
        requests += result.requests
        sent += result.bytes_sent
        got += result.bytes_received
        values.update({k: v.value for k, v in result.registers.items()})
    took = time.monotonic() - start
    line.close()
    return requests, sent, got, took, len(values)


def with_pykmp(port, ids):
    from pykmp import messages
    from pykmp.client import PySerialClientCommunicator
    comm = PySerialClientCommunicator(serial_device=port)
    counted = [0]
    raw_read = comm._serial.read

    def counting_read(*a, **kw):       # count what pykmp takes off the line
        data = raw_read(*a, **kw)
        counted[0] += len(data)
        return data

    comm._serial.read = counting_read
    start = time.monotonic()
    requests = sent = got = 0
    n = 0
    for group in kmp.batches(ids):
        req = messages.GetRegisterRequest(registers=group)
        resp = comm.send_request(message=req)
        requests += 1
        sent += len(kmp.get_register_request(group))
        n += len(resp.registers)
    took = time.monotonic() - start
    got = counted[0]
    return requests, sent, got, took, n


def row(name, requests, sent, got, took, n, echo):
    # The meter's own bytes are what was received minus our echo.
    answer = got - sent if echo else got
    limit = wire_s(sent + answer)
    print("%-34s %3d req %4d B out %4d B back  wire %5.2f s  measured %5.2f s  ratio %4.2f  %2d regs" % (
        name, requests, sent, answer, limit, took, took / limit, n))


def heap_of_decoding():
    """Heap (bytes) of feeding the 7-register answer to KmpReader and decoding it."""
    code = r"""
import gc, micropython
gc.collect(); start = gc.mem_alloc()
from metereye import kmp
gc.collect(); print('import', gc.mem_alloc() - start)
wire = bytes.fromhex('%s')
gc.collect(); base = gc.mem_alloc()
r = kmp.KmpReader()
gc.collect(); after_reader = gc.mem_alloc()
ev = r.feed(wire)
regs = kmp.decode_registers(ev[0].data)
vals = [g.value for g in regs]
held = gc.mem_alloc()
gc.collect(); kept = gc.mem_alloc()
print(after_reader - base, held - base, kept - base, len(regs))
"""
    answer = next(v for v in vectors("kmp_vectors.json") if v["id"] == "water-7reg-resp-gg")
    code = code % answer["hex"].replace(" ", "")
    env = dict(os.environ, MICROPYPATH=".frozen:" + build_lib())   # .mpy, as on the device
    out = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=64K", "-c", code],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        print("heap run failed:", out.stdout, out.stderr)
        return
    lines = out.stdout.split("\n")
    print("import metereye.kmp from .mpy: %s B of heap" % lines[0].split()[1])
    reader, held, kept, n = lines[1].split()
    print("KmpReader allocation: %s B; decoding the 7-register answer allocated %s B before GC, "
          "%s B kept (reader + %s registers + value strings), in a 64K heap (unix port, 64-bit)"
          % (reader, held, kept, n))


def crc_compare():
    """Bitwise (what lib/ ships) against a 256-entry table, under unix MicroPython."""
    code = r"""
import time, gc
from metereye.crc import crc16_xmodem
def make_table():
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
        t.append(c)
    return t
gc.collect(); a = gc.mem_alloc(); T = make_table(); gc.collect(); b = gc.mem_alloc()
def crc_table(buf):
    c = 0
    for x in buf:
        c = ((c << 8) & 0xFFFF) ^ T[(c >> 8) ^ x]
    return c
data = bytes(range(64)) * 2
assert crc_table(data) == crc16_xmodem(data)
for name, fn in (("bitwise", crc16_xmodem), ("table", crc_table)):
    t = time.ticks_us()
    for _ in range(200):
        fn(data)
    print(name, time.ticks_diff(time.ticks_us(), t) / 200, b - a if name == "table" else 0)
"""
    env = dict(os.environ, MICROPYPATH=".frozen:" + os.path.join(ROOT, "lib"))
    out = subprocess.run([os.path.join(BIN, "micropython"), "-c", code], capture_output=True,
                         text=True, env=env)
    for line in out.stdout.splitlines():
        name, us, heap = line.split()
        print("CRC-16 %-8s %7.1f µs per 128-byte frame (unix port)  table heap %s B" % (name, float(us), heap))


def main():
    model = meters.details("multical21")
    ids = model.register_ids
    print("Full Multical 21 set: %d registers, 1200 Bd 8N2 (11 bits a byte)" % len(ids))
    with Sim("multical21", "--freeze") as sim:
        row("metereye, ≤8 registers a request", *ours(sim.port, ids, 8), echo=True)
        row("one register a request (ESPHome)", *ours(sim.port, ids, 1), echo=True)
    with Sim("multical21", "--freeze", "--no-echo") as sim:
        row("metereye, no echo", *ours(sim.port, ids, 8), echo=False)
        row("pykmp 0.0.2, ≤8 a request", *with_pykmp(sim.port, ids), echo=False)
    heap_of_decoding()
    crc_compare()


if __name__ == "__main__":
    main()
