"""A clone stands on its own: nothing it tracks reads or cites notes that are not part
of it, and the data the tests and simulators use is in it, with its sources."""

import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Notes outside the repository, and the private numbering of the notes the
# project was started from: a reader of the code cannot open either.
OUTSIDE = re.compile(r"\.\./shared|METEREYE_RESEARCH|\bANSWERS\b|\bSTYLE R\d|\bTOOLCHAIN\b"
                     r"|\bresearch/[a-z_0-9-]+\.(md|json)|\(issue \d+|\bissues? \d+\b(?!\s*#)|\(DESIGN\b|\bSTYLE\b")


def tracked_text_files():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in names:
        if not name or name.endswith((".png", ".stl", ".jpg")):
            continue
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            if b"\0" not in data:
                yield name, data.decode("utf-8", "replace")


def test_no_tracked_file_reads_or_cites_notes_outside_the_repository():
    found = []
    for name, text in tracked_text_files():
        if name == "tests/test_standalone.py":
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append("%s:%d: %s" % (name, n, line.strip()[:120]))
    assert not found, "\n".join(found)


def test_the_guard_itself_catches_each_kind_of_reference():
    for bad in ("see ../shared/research", "(ANSWERS 11)", "STYLE R13", "research/kmp.md §1",
                "(issue 4)", "TOOLCHAIN §2", "$METEREYE_RESEARCH"):
        assert OUTSIDE.search(bad), bad
    for fine in ("docs/kmp.md §1", "micropython/micropython#14421", "home-assistant/addons#4240"):
        assert not OUTSIDE.search(fine), fine


def _load(name):
    with open(os.path.join(ROOT, "tests", "vectors", name), encoding="utf-8") as f:
        return json.load(f)


def test_every_vector_names_its_source_and_the_readme_lists_it():
    with open(os.path.join(ROOT, "tests", "vectors", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for name, key in (("kmp_vectors.json", "frames"), ("iec_vectors.json", "vectors"),
                      ("sml_vectors.json", "vectors")):
        items = _load(name)[key]
        assert items, name
        for v in items:
            assert v.get("source"), (name, v["id"])
            assert "| `%s` |" % v["id"] in readme, (name, v["id"])


def test_the_simulators_readouts_are_the_vectors_bytes():
    vectors = {v["id"]: v for v in _load("iec_vectors.json")["vectors"]}
    path = os.path.join(ROOT, "tools", "metereye_tools", "data", "iec_readouts.json")
    with open(path, encoding="utf-8") as f:
        served = json.load(f)["readouts"]
    assert served
    for v in served:
        assert v["hex"] == vectors[v["id"]]["hex"] and v["source"] == vectors[v["id"]]["source"], v["id"]
