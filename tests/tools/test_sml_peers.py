"""Independent decoders of the same real frames: pysml (the library behind Home
Assistant's EDL21 integration) and volkszaehler's libsml (Debian's libsml-dev,
through a small C program compiled here). Where a peer decodes an entry, its
value must equal ours; where it differs or refuses, the difference is listed
below with its reason (docs/sml.md §9 repeats the table for the README).

Values are compared exactly: ours as Decimal, pysml's float against the float
nearest our decimal, libsml's raw integer and scaler as integers.
"""

import json
import os
import shutil
import subprocess
from decimal import Decimal

import pytest

from metereye import sml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DUMP_C = os.path.join(ROOT, "tests", "tools", "peers", "libsml_dump.c")

# Where a peer reads a frame differently from metereye, and why.
# (dzg_dvs7412_wrong_sign's 16.7.0: pysml and metereye both correct the DZG DVS74
# sign bug where the status word says energy flows in, docs/sml.md §7.)
PYSML_DIFFERS = {}
PYSML_REFUSES = {
    "itron_openway3hz_7bit_capture": "transport CRC fails (read at 7 data bits)",
    "easymeter_q3a_corrupt": "transport CRC fails (bytes missing)",
}
LIBSML_REFUSES = {
    # Debian's libsml (0.1.1+git20180125) predates the fix for Holley's bare
    # Unsigned32 valTime (volkszaehler/libsml#75): "could not read the whole file".
    "holley_dtz541_zdba": "bare valTime (volkszaehler/libsml#75)",
    "smllib_frame2_holley": "bare valTime (volkszaehler/libsml#75)",
    "easymeter_q3a_corrupt": "bytes missing: the TLV tree does not parse",
}
# libsml checks no transport CRC: it reads the 7-bit capture's wrong values.
LIBSML_READS_BROKEN = ("itron_openway3hz_7bit_capture",)


def _frames():
    with open(os.path.join(ROOT, "tests", "vectors", "sml_vectors.json"), encoding="utf-8") as f:
        out = [(v["id"], bytes.fromhex(v["hex"]), v["crc_ok"]) for v in json.load(f)["vectors"]]
    with open(os.path.join(ROOT, "tests", "vectors", "iec_vectors.json"), encoding="utf-8") as f:
        for v in json.load(f)["vectors"]:
            if v["id"] == "emh-sml-vzlogger":        # the IEC file's one SML frame
                out.append((v["id"], bytes.fromhex(v["hex"].replace(" ", "")), True))
    return out


def _ours(data):
    events = sml.decode(data)
    ev = events[0]
    return ev if isinstance(ev, sml.Telegram) else getattr(ev, "telegram", None)


def _needed(what):
    # docs/decisions.md §3: CI installs everything and skips nothing.
    if os.environ.get("CI"):
        pytest.fail("%s is missing in CI" % what)
    pytest.skip("%s is not installed (tools/setup.sh --test installs it)" % what)


def test_pysml_reads_the_same_values():
    sml_peer = pytest.importorskip("sml")
    differ = {}
    refused = {}
    agreed = 0
    for vid, data, _ in _frames():
        _, frame = sml_peer.SmlBase.find_frame(data)
        ours = _ours(data)
        if frame is None:
            refused[vid] = True
            continue
        theirs = {}
        for msg in frame:
            body = msg.get("messageBody")
            if isinstance(body, sml_peer.SmlGetListResponse):
                for e in body["valList"]:
                    theirs[e["objName"]] = e
        for e in ours.entries:
            if not e.is_number:
                continue
            peer = theirs[e.obis]
            assert peer.get("unit") == e.unit, (vid, e.obis, peer.get("unit"))
            assert (e.corrected is not None) == (e.obis == "1-0:16.7.0*255" and vid == "dzg_dvs7412_wrong_sign")
            if float(Decimal(e.value)) == float(peer["value"]):
                agreed += 1
            else:
                differ[(vid, e.obis)] = str(Decimal(repr(peer["value"])))
    print("\npysml agrees on %d numbers; differs on %s; refuses %s" % (agreed, differ, sorted(refused)))
    assert differ == PYSML_DIFFERS
    assert set(refused) == set(PYSML_REFUSES)
    assert agreed >= 60


@pytest.fixture(scope="module")
def libsml_dump(tmp_path_factory):
    if not os.path.exists("/usr/include/sml/sml_file.h"):
        _needed("libsml-dev")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        _needed("a C compiler")
    exe = str(tmp_path_factory.mktemp("libsml") / "libsml_dump")
    subprocess.run([cc, "-O1", "-o", exe, DUMP_C, "-lsml", "-lm"], check=True, capture_output=True)
    return exe


def libsml_entries(exe, data):
    """[(obis, kind, raw, scaler, unit code)] libsml decodes, or None when it refuses."""
    run = subprocess.run([exe], input=data, capture_output=True, timeout=30)
    if run.returncode != 0:
        return None
    out = []
    for line in run.stdout.decode().splitlines():
        obis, kind, raw, scaler, unit = line.split("|")
        out.append((obis, kind, raw, None if scaler == "-" else int(scaler), None if unit == "-" else int(unit)))
    return out


def test_libsml_reads_the_same_values(libsml_dump):
    refused = []
    read_broken = []
    libsml_differs = []
    agreed = 0
    for vid, data, crc_ok in _frames():
        theirs = libsml_entries(libsml_dump, data)
        if theirs is None:
            refused.append(vid)
            continue
        if not crc_ok:
            read_broken.append(vid)
        ours = _ours(data)
        assert [t[0] for t in theirs] == [e.obis for e in ours.entries], vid
        for (obis, kind, raw, scaler, unit), e in zip(theirs, ours.entries):
            if e.corrected:
                # libsml 2018 keeps the DZG sign bug's spec reading; ours is corrected.
                assert int(raw) + (1 << (8 * e.width)) == e.raw, (vid, obis)
                libsml_differs.append((vid, obis))
                continue
            if e.is_number:
                assert kind in ("int", "uint") and int(raw) == e.raw, (vid, obis, raw, e.raw)
                assert (scaler or 0) == (e.scaler or 0) and unit == e.unit_code, (vid, obis)
                agreed += 1
            elif isinstance(e.raw, bytes):
                assert kind == "octets" and raw == sml.hex_upper(e.raw), (vid, obis)
    print("\nlibsml agrees on %d numbers; differs on %s; refuses %s; reads broken frames %s"
          % (agreed, libsml_differs, refused, read_broken))
    assert libsml_differs == [("dzg_dvs7412_wrong_sign", "1-0:16.7.0*255")]
    assert sorted(refused) == sorted(LIBSML_REFUSES)
    assert tuple(read_broken) == LIBSML_READS_BROKEN
    assert agreed >= 25
