"""The manifest of a code set, and the update bundle that carries one.

The same format serves `metereye deploy` (each set's sets/<slot>/manifest.json
on the board), `metereye update` and the reader's updater:

    {"format":1,"set":"1c0d9a7e5b2f4a10","health_s":180,
     "files":[["app.mpy",5012,"<sha256 hex>"],["lib/metereye/kmp.mpy",9120,"…"],…]}

`set` names the set. It is the first 16 hex digits of the sha256 over one
"path size sha256\\n" line per file, in path order, so two builds of the same
sources get the same name. `health_s` (bundles only) is how long the new set
has to prove healthy before the reader rolls it back. `issued` (bundles only)
is when the bundle was signed, in milliseconds since 1970 on the signing PC's
clock: a reader stages only bundles issued after the last one it staged, so a
signed bundle captured on the LAN cannot be sent again to bring back an old set.

A bundle is a 40-byte header, then the manifest, then each file's bytes in
manifest order:

    b"MEB1" | manifest length (4 bytes, big-endian) | HMAC-SHA256 of the manifest (32 bytes)

The HMAC covers only the manifest. The manifest holds every file's sha256, so
every byte is covered, and the reader checks the HMAC before it writes a byte.
"""

import hashlib
import json
from binascii import hexlify

from metereye.compat import const
from metereye.errors import MeterEyeError

FORMAT = 1
MAGIC = b"MEB1"
HEADER_LEN = const(40)
MAX_MANIFEST = const(16384)   # about 150 files: the reader reads a manifest whole, on a ~100 KB heap
MAX_FILES = const(150)
MAX_PATH = const(96)
NAME = "manifest.json"        # each set's own manifest: no file of a set may take this name
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
_FILES = ',"files":['
_MAX_PIECE = const(320)       # the head before the file list, or one entry: ~40 + 96 + 64 bytes
_HEX = "0123456789abcdef"


class ManifestError(MeterEyeError):
    """A manifest or bundle header that is malformed: (what, detail)."""

    token = "manifest"


def safe_path(path):
    """True for a relative path of plain names that stays inside its set: no
    "..", no leading "/", no empty part. The reader writes exactly this path
    under the set's folder, so a bad one must never pass."""
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH or path == NAME:
        return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
        for ch in part:
            if ch not in _SAFE:
                return False
    return True


def set_id(files):
    """The set's name from its (path, size, sha256) entries, in path order."""
    h = hashlib.sha256()
    for path, size, sha in files:
        h.update(("%s %d %s\n" % (path, size, sha)).encode())
    return hexlify(h.digest()).decode()[:16]


def parts(files, health_s=None, issued=None):
    """The manifest's text a piece at a time, for (path, size, sha256 hex)
    entries in path order: a reader writes it to flash without ever holding
    it whole. By hand rather than json.dumps: MicroPython's has no separators,
    and the paths are plain names (safe_path), so nothing needs escaping."""
    for path, size, sha in files:
        if not safe_path(path):
            raise ManifestError("path", path)
    head = '{"format":%d,"set":"%s"' % (FORMAT, set_id(files))
    if health_s is not None:
        head += ',"health_s":%d' % health_s
    if issued is not None:
        head += ',"issued":%d' % issued
    yield head + _FILES
    sep = ""
    for e in files:
        yield sep + '["%s",%d,"%s"]' % tuple(e)
        sep = ","
    yield "]}"


def encode(files, health_s=None, issued=None):
    """The manifest's bytes for (path, size, sha256 hex) entries, sorted by path."""
    return "".join(parts(sorted(files), health_s, issued)).encode()


def _is_sha(text):
    if not isinstance(text, str) or len(text) != 64:
        return False
    for ch in text:
        if ch not in _HEX:
            return False
    return True


def decode(data):
    """The manifest as a dict, after checking its shape, every path and its set id."""
    if len(data) > MAX_MANIFEST:
        raise ManifestError("size", len(data))
    try:
        m = json.loads(data)
    except ValueError:
        raise ManifestError("json", "not JSON")
    return _checked(m)


class Reader:
    """A bundle's manifest parsed as it arrives, a piece at a time, so that the
    reader never needs one free block as large as the manifest (its heap is
    fragmented by the time an update comes). It takes the layout encode()
    writes, one entry at a time; done() then checks the whole as decode() does.
    Every buffer is bounded: a piece without an entry's end is refused."""

    def __init__(self):
        self._carry = b""
        self._head = None
        self._files = []
        self._ended = False

    def feed(self, data):
        buf = self._carry + bytes(data) if self._carry else bytes(data)
        i = 0
        if self._head is None:
            j = buf.find(_FILES.encode())
            if j < 0:
                self._keep(buf, 0, "json", "no file list")
                return
            try:
                self._head = json.loads(buf[:j] + b"}")
            except ValueError:
                raise ManifestError("json", "not JSON")
            if not isinstance(self._head, dict):
                raise ManifestError("format", None)
            i = j + len(_FILES)
        while not self._ended and i < len(buf):
            if buf[i] != 0x5B:                              # "[": an entry
                raise ManifestError("files", "a list of 1 to %d files" % MAX_FILES)
            k = buf.find(b"]", i)                           # no "]" in a safe path or a sha256
            if k < 0 or k + 1 >= len(buf) or (buf[k + 1] == 0x5D and k + 2 >= len(buf)):
                break                                       # the entry or what follows it is still coming
            try:
                entry = json.loads(buf[i:k + 1])
            except ValueError:
                raise ManifestError("entry", buf[i:k + 1])
            if buf[k + 1] == 0x2C:                          # ","
                i = k + 2
            elif buf[k + 1:k + 3] == b"]}":
                i = k + 3
                self._ended = True
            else:
                raise ManifestError("json", "not JSON")
            self._files.append(entry)
            if len(self._files) > MAX_FILES:
                raise ManifestError("files", "a list of 1 to %d files" % MAX_FILES)
        if self._ended and i < len(buf):
            raise ManifestError("json", "data after the manifest")
        self._keep(buf, i, "entry", "longer than any entry")

    def _keep(self, buf, i, what, why):
        self._carry = buf[i:]
        if len(self._carry) > _MAX_PIECE:
            raise ManifestError(what, why)

    def done(self):
        """The manifest as decode() gives it, once the last byte was fed."""
        if not self._ended:
            raise ManifestError("json", "the manifest ends early")
        m = self._head
        m["files"] = self._files
        return _checked(m)


def _checked(m):
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ManifestError("format", m.get("format") if isinstance(m, dict) else None)
    files = m.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        raise ManifestError("files", "a list of 1 to %d files" % MAX_FILES)
    previous = ""
    for entry in files:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[1], int)
                and entry[1] >= 0 and _is_sha(entry[2])):
            raise ManifestError("entry", entry)
        path = entry[0]
        if not safe_path(path):
            raise ManifestError("path", path)
        if path <= previous:         # sorted and unique: one file per path
            raise ManifestError("order", path)
        previous = path
    health = m.get("health_s")
    if health is not None and not (isinstance(health, int) and 10 <= health <= 86400):
        raise ManifestError("health_s", health)
    issued = m.get("issued")
    if issued is not None and not (isinstance(issued, int) and issued >= 0):
        raise ManifestError("issued", issued)
    if m.get("set") != set_id(files):
        raise ManifestError("set", m.get("set"))
    return m


def header(manifest_bytes, mac):
    """A bundle's 40-byte header for its manifest and the manifest's HMAC."""
    return MAGIC + len(manifest_bytes).to_bytes(4, "big") + mac


def parse_header(data):
    """(manifest length, HMAC) from a bundle's first 40 bytes."""
    if len(data) != HEADER_LEN or bytes(data[:4]) != MAGIC:
        raise ManifestError("header", "not a metereye update bundle")
    length = int.from_bytes(bytes(data[4:8]), "big")
    if not 0 < length <= MAX_MANIFEST:
        raise ManifestError("size", length)
    return length, bytes(data[8:HEADER_LEN])
