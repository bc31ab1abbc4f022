"""metereye.hmac against CPython's hmac: the table tests/lib/test_hmac.py checks on
both runtimes is CPython's own output, and random keys and messages give the
same MAC on CPython and on unix MicroPython."""

import hmac
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import test_hmac  # noqa: E402

from metereye.hmac import digest  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def test_the_shared_table_is_cpythons_output():
    for key_len, msg_len, want in test_hmac.CPYTHON_TABLE:
        key, msg = test_hmac.table_key(key_len), test_hmac.table_msg(msg_len)
        assert hmac.digest(key, msg, "sha256").hex() == want, (key_len, msg_len)


def test_random_inputs_match_cpython_on_both_runtimes(tmp_path):
    rng = random.Random(9)
    cases = [(rng.randbytes(rng.choice((0, 1, 31, 32, 63, 64, 65, 100, 200))),
              rng.randbytes(rng.randrange(0, 3000))) for _ in range(60)]
    for key, msg in cases:
        assert digest(key, msg) == hmac.digest(key, msg, "sha256")
    # The same cases under unix MicroPython: "key msg" in hex per line in, one MAC per line out.
    path = tmp_path / "cases.txt"
    path.write_text("".join("%s %s\n" % (k.hex(), m.hex()) for k, m in cases))
    code = ("from metereye.hmac import digest\nfrom binascii import hexlify, unhexlify\n"
            "for line in open(%r):\n"
            "    k, m = line.split(' ')\n"
            "    print(hexlify(digest(unhexlify(k), unhexlify(m.strip()))).decode())\n" % str(path))
    run = subprocess.run([MICROPYTHON, "-X", "heapsize=512K", "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, MICROPYPATH=".frozen:" + os.path.join(ROOT, "lib")), timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [hmac.digest(k, m, "sha256").hex() for k, m in cases]
