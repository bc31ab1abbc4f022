"""The research vectors, read the same way on CPython and unix MicroPython.

They live in tests/vectors/ with their sources (tests/vectors/README.md).
MicroPython cannot json.load the whole files in a small heap, so the runner
first splits each into one vector per line under build/vectors/ (split_all),
and under MicroPython they are read a line at a time.
"""

import json
import os
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = _HERE + "/../.."
_LIST_KEY = {"kmp_vectors.json": "frames", "iec_vectors.json": "vectors", "sml_vectors.json": "vectors"}


def vectors_dir():
    return ROOT + "/tests/vectors"


def _split_path(name):
    return ROOT + "/build/vectors/" + name + "l"


def vectors(name):
    """Every vector of file `name` ("kmp_vectors.json"), in order."""
    if sys.implementation.name == "micropython":
        with open(_split_path(name)) as f:
            for line in f:
                yield json.loads(line)
        return
    with open(vectors_dir() + "/" + name, encoding="utf-8") as f:
        for v in json.load(f)[_LIST_KEY[name]]:
            yield v


def kmp_unit_table():
    """The vectors file's unit table: {code (str): unit string}."""
    if sys.implementation.name == "micropython":
        with open(ROOT + "/build/vectors/kmp_unit_table.json") as f:
            return json.load(f)
    with open(vectors_dir() + "/kmp_vectors.json", encoding="utf-8") as f:
        return json.load(f)["unit_table"]


def split_all():
    """CPython side: write build/vectors/*.jsonl for the MicroPython runs."""
    os.makedirs(ROOT + "/build/vectors", exist_ok=True)
    with open(ROOT + "/build/vectors/kmp_unit_table.json", "w", encoding="utf-8") as out:
        json.dump(kmp_unit_table(), out, ensure_ascii=False)
    for name in _LIST_KEY:
        with open(_split_path(name), "w", encoding="utf-8") as out:
            for v in vectors(name):
                out.write(json.dumps(v, ensure_ascii=False) + "\n")


def wire(v):
    """The bytes of a vector's hex field."""
    return bytes.fromhex(v["hex"].replace(" ", ""))
