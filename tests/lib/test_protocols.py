"""The protocol table: every model's protocol has a row, every row names parts that exist,
and an unknown protocol is an error rather than a default."""

from metereye import meters, protocols
from metereye.errors import UnknownProtocol


def test_every_model_protocol_has_a_row():
    for name, protocol, _, _ in meters.MODELS:
        assert protocols.find(protocol).name == protocol, name


def test_an_unknown_protocol_is_an_error_not_a_default():
    for bad in ("", "iec-e", "IEC", "kmp ", "modbus"):
        try:
            protocols.find(bad)
        except UnknownProtocol as e:
            assert e.args == (bad,)
        else:
            raise AssertionError(bad)
    try:
        protocols.in_family("modbus")
    except UnknownProtocol:
        pass
    else:
        raise AssertionError("in_family")


def test_families_come_once_each_in_table_order():
    fams = protocols.families()
    assert fams[:2] == ["kmp", "iec"] and len(fams) == len(set(fams))
    for fam in fams:
        assert all(p.family == fam for p in protocols.in_family(fam))


def _unload(names):
    # Forget modules imported since `names`, as a reader with one meter family
    # never holds another's code: one family at a time fits the bounded heap.
    import gc
    import sys
    if sys.implementation.name != "micropython":
        return                  # CPython: other tests hold these modules' classes
    for name in [n for n in sys.modules if n not in names]:
        parent, _, attr = name.rpartition(".")
        if parent in sys.modules and attr in dir(sys.modules[parent]):
            delattr(sys.modules[parent], attr)
        del sys.modules[name]
    gc.collect()


def test_the_lib_parts_named_import_and_answer_their_role():
    import sys
    for row in protocols.PROTOCOLS:
        p = protocols.Protocol(row)
        before = list(sys.modules)
        keys = protocols.load(p.keys)
        assert callable(keys.key_classes), p.name
        assert callable(protocols.load(p.json).decode), p.name
        keys = None
        _unload(before)


def test_a_pusher_takes_its_line_from_its_model():
    class P1:
        line_baud, framing = 115200, "8N1"
    assert protocols.find("iec-d").line(P1) == (115200, "8N1")
    assert protocols.find("kmp").line(P1) == (1200, "8N2")
    assert protocols.find("iec-c").line() == (300, "7E1")
