"""Benchmark: decoding the real SML telegrams (tests/vectors/sml_vectors.json, the
12 whose CRC holds) with metereye's reader, pysml (Home Assistant's EDL21) and
Debian's libsml (a small C loop compiled here); metereye again under unix
MicroPython (lib as .mpy) with its import cost, the reader's buffer, what one
telegram allocates and the smallest heap that decodes them all.

    .venv/bin/python tools/bench/sml_decode.py

Prints figures; asserts nothing. One run. What each decoder does per telegram
differs: metereye checks the transport CRC and every message CRC and builds
exact decimals; pysml checks the transport CRC and builds floats; libsml checks
neither CRC here (its transport reader is not used) and builds C structs.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from testvectors import vectors, wire  # noqa: E402

from metereye import sml  # noqa: E402
from metereye_tools.mpy import build_lib  # noqa: E402

FRAMES = [wire(v) for v in vectors("sml_vectors.json") if v["crc_ok"]]
PUBLISH = tuple(__import__("metereye.meters", None, None, ("details",)).details("sml-ehz").publish)
SECONDS = 2.0


def rates(decoders, rounds=5, seconds=0.4):
    """{name: best frames a second}: each decoder over FRAMES for `seconds`,
    taking turns for `rounds`, so a busy moment of a shared machine does not
    fall on one of them alone."""
    best = {}
    for _ in range(rounds):
        for name, decode_all in decoders:
            n = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                decode_all()
                n += 1
            best[name] = max(best.get(name, 0.0), n * len(FRAMES) / (time.perf_counter() - start))
    return best


def metereye_all():
    reader = sml.SmlReader()
    good = 0
    for f in FRAMES:
        for ev in reader.feed(f):
            good += isinstance(ev, sml.Telegram)
    return good


def pysml_all():
    from sml import SmlBase
    good = 0
    for f in FRAMES:
        good += SmlBase.find_frame(f)[1] is not None
    return good


LIBSML_LOOP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sml/sml_file.h>
/* stdin: frames as <2-byte length, big-endian><bytes>; argv[1]: seconds to run. */
int main(int argc, char **argv) {
	static unsigned char data[65536];
	size_t n = fread(data, 1, sizeof data, stdin), frames = 0, parsed = 0;
	double seconds = atof(argv[1]);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (size_t i = 0; i + 2 <= n;) {
			size_t len = (data[i] << 8) | data[i + 1];
			sml_file *file = sml_file_parse(data + i + 2 + 8, len - 16);
			parsed += file && file->messages_len == 3;
			sml_file_free(file);
			frames++;
			i += 2 + len;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	printf("%f %zu %zu\n", frames / ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9),
	       parsed, frames);
	return 0;
}
"""


def libsml_rate(tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not os.path.exists("/usr/include/sml/sml_file.h"):
        return None, "libsml-dev or a C compiler missing (tools/setup.sh --test installs them)"
    src = os.path.join(tmp, "loop.c")
    exe = os.path.join(tmp, "loop")
    with open(src, "w") as f:
        f.write(LIBSML_LOOP)
    # libsml prints a warning per frame it cannot read: keep them off the figures.
    subprocess.run([cc, "-O2", "-o", exe, src, "-lsml", "-lm"], check=True)
    feed = b"".join(len(f).to_bytes(2, "big") + f for f in FRAMES)
    run = subprocess.run([exe, str(SECONDS)], input=feed, capture_output=True, check=True)
    per_s, parsed, frames = run.stdout.split()
    return float(per_s), "%d of every %d frames parsed whole" % (int(parsed) * len(FRAMES) // int(frames),
                                                               len(FRAMES))


MP_FRAMES = r"""
frames = []
with open(%r, 'rb') as f:
    while True:
        head = f.read(2)
        if not head:
            break
        frames.append(f.read((head[0] << 8) | head[1]))
"""

# Measured with the collector off around each feed, so "allocated" counts
# garbage too; needs room: run in a large heap.
MP_MEASURE = r"""
import gc, time
gc.collect(); before = gc.mem_alloc()
from metereye import sml
gc.collect(); imported = gc.mem_alloc() - before
""" + MP_FRAMES + r"""
def allocations(reader):
    out = []
    good = 0
    for f in frames:
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        events = reader.feed(f)
        out.append(gc.mem_alloc() - a)
        gc.enable()
        good += 1 if events and isinstance(events[0], sml.Telegram) else 0
        events = None
    return out, good
gc.collect(); before = gc.mem_alloc()
reader = sml.SmlReader()
gc.collect(); reader_bytes = gc.mem_alloc() - before
per, good = allocations(reader)
kept, _ = allocations(sml.SmlReader(keep=%r))
n = 0
t = time.ticks_us()
while time.ticks_diff(time.ticks_us(), t) < %d:
    for f in frames:
        reader.feed(f)
    n += 1
us = time.ticks_diff(time.ticks_us(), t)
print(imported, reader_bytes, min(per), max(per), sum(per) // len(per), good, n * len(frames) * 1000000 / us,
      min(kept), max(kept))
"""

# The device's way: a reader with the profile's filter, the frames in 64-byte
# chunks as a UART hands them over, the collector on.
MP_HEAP = r"""
import gc
from metereye import sml
""" + MP_FRAMES + r"""
reader = sml.SmlReader(keep=%r)
good = 0
for _ in range(3):
    for f in frames:
        for i in range(0, len(f), 64):
            for ev in reader.feed(f[i:i + 64]):
                good += isinstance(ev, sml.Telegram)
gc.collect()
print(good, gc.mem_alloc(), gc.mem_free())
"""


def micropython(tmp):
    path = os.path.join(tmp, "frames.bin")
    with open(path, "wb") as f:
        f.write(b"".join(len(x).to_bytes(2, "big") + x for x in FRAMES))
    env = dict(os.environ, MICROPYPATH=".frozen:" + build_lib())
    mp = os.path.join(BIN, "micropython")
    run = subprocess.run([mp, "-X", "heapsize=256K", "-c", MP_MEASURE % (path, PUBLISH, int(SECONDS * 1e6))],
                         capture_output=True, text=True, env=env)
    measured = run.stdout.split() if run.returncode == 0 else None
    heaps = []
    for heap in ("64K", "48K", "40K", "32K", "24K", "16K"):
        run = subprocess.run([mp, "-X", "heapsize=" + heap, "-c", MP_HEAP % (path, PUBLISH)],
                             capture_output=True, text=True, env=env)
        ok = run.returncode == 0 and int(run.stdout.split()[0]) == 3 * len(FRAMES)
        heaps.append((heap, ok, run.stdout.split() if ok else (run.stdout + run.stderr).strip().splitlines()[-1:]))
        if not ok:
            break
    return measured, heaps


def main():
    print("Decoding %d real SML telegrams (%d-%d bytes), one run, best of 5 alternating rounds:"
          % (len(FRAMES), min(map(len, FRAMES)), max(map(len, FRAMES))))
    assert metereye_all() == len(FRAMES)
    decoders = [("metereye", metereye_all)]
    try:
        assert pysml_all() == len(FRAMES)
        decoders.append(("pysml", pysml_all))
    except ImportError:
        print("  pysml: not installed (pip install -e '.[dev]')")
    best = rates(decoders)
    ours = best["metereye"]
    print("  metereye (CPython %d.%d)   %8.0f frames/s  (transport + message CRCs, exact decimals)"
          % (sys.version_info[0], sys.version_info[1], ours))
    if "pysml" in best:
        print("  pysml 0.1.9               %8.0f frames/s  (transport CRC, floats): metereye is %.1f× pysml"
              % (best["pysml"], ours / best["pysml"]))
    with tempfile.TemporaryDirectory() as tmp:
        c_rate, note = libsml_rate(tmp)
        if c_rate is None:
            print("  libsml: " + note)
        else:
            print("  libsml (C, -O2)           %8.0f frames/s  (no CRC, %s): libsml is %.0f× metereye"
                  % (c_rate, note, c_rate / ours))
        mp = micropython(tmp)
    print("\nUnix MicroPython (lib as .mpy; 64-bit: objects about twice their ESP32 size, upper bounds):")
    measured, heaps = mp
    if measured is None:
        print("  did not run")
        return
    imported, reader_b, lo, hi, mean, good, per_s, kept_lo, kept_hi = measured
    print("  decode: %.0f frames/s (%s of %d good)" % (float(per_s), good, len(FRAMES)))
    print("  import of metereye.sml (+ compat, crc, decimal, errors, units): %s B of heap" % imported)
    print("  an SmlReader (its %d-byte buffer included): %s B" % (sml.SmlReader.MAX_TELEGRAM, reader_b))
    print("  allocated while one telegram is fed whole: %s-%s B (mean %s B): the Telegram, its entries "
          "and their ids; nothing per byte" % (lo, hi, mean))
    print("  the same through the profile's publish filter (%d ids): %s-%s B" % (len(PUBLISH), kept_lo, kept_hi))
    for heap, ok, detail in heaps:
        if ok:
            print("  -X heapsize=%s: all %d telegrams x3 in 64-byte chunks, filtered: ok (%s B in use, %s B free "
                  "after gc)" % (heap, len(FRAMES), detail[1], detail[2]))
        else:
            print("  -X heapsize=%s: fails: %s" % (heap, " ".join(detail)))


if __name__ == "__main__":
    main()
