"""HMAC-SHA256 over hashlib (metereye.hmac) against RFC 4231 and against CPython's hmac.

Runs on CPython (pytest) and on unix MicroPython (tests/mp_run.py). CPYTHON_TABLE
holds what CPython's hmac.digest gives; tests/deploy/test_hmac_cpython.py checks
the table against CPython's hmac on every run and random inputs on both runtimes.
"""

import binascii

from metereye.hmac import Hmac, compare_digest, digest


def _hex(b):
    return binascii.hexlify(b).decode()


# RFC 4231 §4.2-4.8, HMAC-SHA-256 (test case 5 compares the first 128 bits, as the RFC does).
RFC4231 = (
    ("tc1", b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    ("tc2", b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ("tc3", b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    ("tc4", bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    ("tc5", b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    ("tc6", b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ("tc7", b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def table_key(n):
    return bytes((i * 7 + 1) & 0xFF for i in range(n))


def table_msg(n):
    return bytes((i * 13 + 5) & 0xFF for i in range(n))


# (key length, message length, CPython's hmac.digest(table_key(k), table_msg(m), "sha256")):
# keys below, at and above the 64-byte block, messages across SHA-256's padding edges (55/56).
CPYTHON_TABLE = (
    (0, 0, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
    (1, 1, "0825dfcc4805dff63abc35cef4d2df807832fa64ecb955043f593ca9a443250e"),
    (32, 55, "e8e82f38ae40d0f9e6f8b6c6bb7d685af9e8398ef4751f07b65efdf589f92e33"),
    (32, 56, "f0c423c81a453b33113395689173887ecd11c53924a0cdab9d51aed66aef7aff"),
    (63, 64, "b4cc7e915dfbea0a492e02bcc6ecafde939395818aaa57383bf2dfca78a82806"),
    (64, 64, "df6ffdebfcb73701a8047181930f9e4cf0b8044481706c7dbf65659c5b00be6d"),
    (65, 1, "9d9dbecc52d7d5118d292fb74c7678f5d606e52d45f0631496849209a0c3834c"),
    (131, 1000, "94deabfbf7e1ee7c0dd0dfe2aa08bbaaf691018f738d661cb9573e08e4a9f296"),
    (200, 64, "a29c8d97b2ed5e8ab61a071dc52fe55c0a74c69d1dcc3b4f027ef2b933b02ed3"),
)


def test_rfc4231_vectors():
    for name, key, msg, want in RFC4231:
        got = _hex(digest(key, msg))
        assert got[:len(want)] == want, (name, got)


def test_matches_cpython_hmac_across_block_and_padding_edges():
    for key_len, msg_len, want in CPYTHON_TABLE:
        assert _hex(digest(table_key(key_len), table_msg(msg_len))) == want, (key_len, msg_len)


def test_fed_in_pieces_it_gives_the_cpython_table_mac():
    for key_len, msg_len, want in CPYTHON_TABLE:
        msg = table_msg(msg_len)
        for size in (1, 7, 64, 1000):
            h = Hmac(table_key(key_len))
            for i in range(0, msg_len, size):
                h.update(memoryview(msg)[i:i + size])
            assert _hex(h.digest()) == want, (key_len, msg_len, size)


def test_bytearray_and_memoryview_inputs_give_the_same_mac():
    key, msg = table_key(32), table_msg(100)
    want = digest(key, msg)
    assert digest(bytearray(key), memoryview(msg)) == want


def test_one_changed_bit_changes_the_mac():
    key, msg = table_key(32), bytearray(table_msg(100))
    want = digest(key, msg)
    msg[50] ^= 1
    assert digest(key, msg) != want


def test_compare_digest():
    a = digest(b"k", b"m")
    assert compare_digest(a, bytes(a))
    b = bytearray(a)
    b[31] ^= 0x80
    assert not compare_digest(a, b)
    b = bytearray(a)
    b[0] ^= 1
    assert not compare_digest(a, b)
    assert not compare_digest(a, a[:31])
    assert compare_digest(b"", b"")
