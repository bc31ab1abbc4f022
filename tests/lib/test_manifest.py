"""The code set's manifest and the update bundle header (metereye.manifest).

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py).
"""

from metereye import manifest
from metereye.manifest import ManifestError

SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4
FILES = [("lib/metereye/kmp.mpy", 9120, SHA_B), ("app.mpy", 5012, SHA_A)]


def _refused(data, what):
    try:
        manifest.decode(data)
    except ManifestError as e:
        assert e.args[0] == what, e.args
        return
    raise AssertionError("accepted: %r" % (data,))


def test_encode_then_decode_gives_the_files_in_path_order():
    # A signing time in ms: past 2**31, so the board's 32-bit small ints must not matter.
    m = manifest.decode(manifest.encode(FILES, health_s=120, issued=1795632050123))
    assert m["files"] == [["app.mpy", 5012, SHA_A], ["lib/metereye/kmp.mpy", 9120, SHA_B]]
    assert m["health_s"] == 120 and m["format"] == 1
    assert m["issued"] == 1795632050123 and m["issued"] > 1795632050122
    assert "issued" not in manifest.decode(manifest.encode(FILES))     # a set's own manifest has none
    assert m["set"] == manifest.set_id(sorted(FILES)) and len(m["set"]) == 16


def test_the_set_id_follows_every_byte_of_the_listing():
    base = manifest.set_id(sorted(FILES))
    assert manifest.set_id(sorted(FILES)) == base
    assert manifest.set_id([("app.mpy", 5013, SHA_A), FILES[0]]) != base
    assert manifest.set_id([("app.mpy", 5012, SHA_B), FILES[0]]) != base
    assert manifest.set_id([("apq.mpy", 5012, SHA_A), FILES[0]]) != base


def test_paths_that_leave_the_set_are_refused():
    for bad in ("../boot.py", "/main.py", "lib//x.mpy", "lib/./x.mpy", "lib/../../x", "a b.mpy",
                "x\\y.mpy", "", "manifest.json", "x" * 97):
        assert not manifest.safe_path(bad), bad
    for good in ("app.mpy", "lib/metereye/meters/kamstrup.mpy", "lib/umqtt/simple.mpy"):
        assert manifest.safe_path(good), good
    text = manifest.encode(FILES).decode().replace("app.mpy", "../a.mpy")
    _refused(text.encode(), "path")


def test_a_changed_listing_no_longer_matches_its_set_id():
    text = manifest.encode(FILES).decode()
    _refused(text.replace("5012", "5011").encode(), "set")
    _refused(text.replace(SHA_A, SHA_B).encode(), "set")


def test_malformed_manifests_are_refused_by_what_is_wrong():
    _refused(b"not json", "json")
    _refused(b'{"format":2,"files":[]}', "format")
    _refused(b'{"format":1,"files":[]}', "files")
    _refused(b'{"format":1,"files":[["app.mpy",-1,"%s"]]}' % SHA_A.encode(), "entry")
    _refused(b'{"format":1,"files":[["app.mpy",1,"ABC"]]}', "entry")
    twice = '{"format":1,"files":[["a.mpy",1,"%s"],["a.mpy",1,"%s"]]}' % (SHA_A, SHA_A)
    _refused(twice.encode(), "order")
    unsorted = '{"format":1,"files":[["b.mpy",1,"%s"],["a.mpy",1,"%s"]]}' % (SHA_A, SHA_A)
    _refused(unsorted.encode(), "order")
    text = manifest.encode(FILES, health_s=5)
    _refused(text, "health_s")
    _refused(manifest.encode(FILES, issued=-1), "issued")
    _refused(manifest.encode(FILES).replace(b',"files"', b',"issued":"yesterday","files"'), "issued")


def test_bundle_header_round_trip_and_refusals():
    body = manifest.encode(FILES)
    mac = bytes(range(32))
    head = manifest.header(body, mac)
    assert len(head) == manifest.HEADER_LEN
    assert manifest.parse_header(head) == (len(body), mac)
    for bad, what in ((b"MEB2" + head[4:], "header"), (head[:39], "header"),
                      (manifest.MAGIC + b"\x00\x01\x00\x00" + mac, "size"),
                      (manifest.MAGIC + b"\x00\x00\x00\x00" + mac, "size")):
        try:
            manifest.parse_header(bad)
        except ManifestError as e:
            assert e.args[0] == what, e.args
        else:
            raise AssertionError("accepted %r" % bad)


def _fed(data, size):
    r = manifest.Reader()
    for i in range(0, len(data), size):
        r.feed(memoryview(data)[i:i + size])
    return r.done()


def _fed_refused(data, what, size=7):
    try:
        _fed(data, size)
    except ManifestError as e:
        assert e.args[0] == what, (e.args, data[:80])
        return
    raise AssertionError("accepted: %r" % (data[:80],))


def test_read_in_pieces_it_gives_what_decode_gives():
    many = [("lib/m%03d.mpy" % i, i * 7, "%064x" % i) for i in range(manifest.MAX_FILES)]
    for files, kw in ((FILES, {"health_s": 120, "issued": 1795632050123}), (FILES, {}), (many, {"issued": 5})):
        data = manifest.encode(files, **kw)
        for size in (1, 2, 3, 7, 64, 1000, len(data)):
            assert _fed(data, size) == manifest.decode(data), (len(files), size)


def test_read_in_pieces_it_refuses_what_decode_refuses_and_more():
    good = manifest.encode(FILES, issued=9)
    _fed_refused(good[:-1], "json")                                     # ends early
    _fed_refused(good[:-3], "json")
    _fed_refused(good + b" ", "json")                                   # bytes after the end
    _fed_refused(good.replace(b"5012", b"5011"), "set")
    _fed_refused(good.replace(b"app.mpy", b"../a.mpy"), "path")
    _fed_refused(good.replace(b'"files":[', b'"files": ['), "json")     # not encode()'s layout
    _fed_refused(good.replace(b'"issued":9', b'"issued":-9'), "issued")
    _fed_refused(b"x" * 1000, "json")                                    # no file list, bounded
    _fed_refused(good.replace(b'"files":[[', b'"files":[ ['), "files")   # an entry must follow at once
    _fed_refused(good.replace(b'"app.mpy",5012', b'"app.mpy",' + b"5" * 400), "entry")
    _fed_refused(b'{"format":1,"files":[["a.mpy",1,"%s"]x' % SHA_A.encode(), "json")
    too_many = [("m%03d.mpy" % i, 1, SHA_A) for i in range(manifest.MAX_FILES + 1)]
    _fed_refused(manifest.encode(too_many), "files", size=1000)


def test_parts_join_to_the_encoded_manifest():
    files = sorted(FILES)
    assert "".join(manifest.parts(files, 60, 7)).encode() == manifest.encode(FILES, health_s=60, issued=7)
