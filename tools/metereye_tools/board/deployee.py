"""What `metereye deploy` runs on the board: plain MicroPython 1.22+ (no
f-strings), and on the unix port for the stand-in and the tests.

deploy_board.board_code() sends the lines above the first function, the
functions a step calls (and those they call), and then, in one exec:

    try:
        start(ROOT)
        STEP(...)
    finally:
        forget()

ROOT is "" on a board and the stand-in's folder on a PC (docs/decisions.md
§24); None lets start() find out. Every result is printed as soon as it is
known, one "@@TAG JSON" line each, so the heap never holds a table of all
files or hashes; every file passes through one 512-byte buffer; forget()
removes every name this code defined and collects, so the REPL (and the app
it may still hold on a board) gets its heap back between steps.
"""

_BEFORE = list(globals())
import binascii
import gc
import hashlib
import json
import os
import sys

R = ""
_BUF = bytearray(512)
_VIEW = memoryview(_BUF)


def start(root):
    """Set the remote root; feed an ESP32's watchdog the app started (Ctrl-C stopped
    the app, not its watchdog); collect."""
    global R
    if root is None:
        root = os.getcwd() if sys.platform in ("linux", "darwin") else ""
    R = root
    if sys.platform == "esp32" and "app" in sys.modules:
        try:
            import machine
            machine.WDT(timeout=60000).feed()
        except Exception:
            pass
    gc.collect()


def forget():
    """Leave the REPL's namespace as it was before this code came, and collect."""
    before = _BEFORE
    collect = gc.collect
    g = globals()
    for name in list(g):
        if name not in before:
            del g[name]
    collect()


def path(rel):
    return R + "/" + rel


def emit(tag, value):
    print("@@" + tag, json.dumps(value))


def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def sha256(p):
    """The file's sha256 in hex, read through the one buffer; None when it is absent."""
    try:
        f = open(p, "rb")
    except OSError:
        return None
    h = hashlib.sha256()
    while True:
        n = f.readinto(_BUF)
        if not n:
            break
        h.update(_VIEW[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()


def hash_tree(top, tag, below=""):
    """@@tag [path under top, sha256] for every file under top, as each is found."""
    try:
        entries = os.ilistdir(path(top + below))
    except OSError:
        return
    for e in entries:
        name = (below[1:] + "/" if below else "") + e[0]
        if e[1] == 0x4000:
            hash_tree(top, tag, "/" + name)
        else:
            emit(tag, [name, sha256(path(top + "/" + name))])


def show(tag, rel):
    """A small file's bytes as @@tag lines: "" first, then base64 pieces the PC joins;
    nothing when it is absent. Its .tmp copy when only that exists: a rename cut
    short leaves the complete file there (firmware/startup.py load())."""
    for p in (path(rel), path(rel) + ".tmp"):
        try:
            f = open(p, "rb")
        except OSError:
            continue
        emit(tag, "")
        while True:
            n = f.readinto(_BUF)
            if not n:
                break
            emit(tag, binascii.b2a_base64(_VIEW[:n]).decode().strip())
        f.close()
        return


def probe():
    """What the board is, and what it holds: the sets' manifests and the sha256 of each file."""
    i = sys.implementation
    st = os.statvfs(R or "/")
    standin = exists(path(".metereye-standin"))
    emit("board", {"platform": sys.platform, "version": ".".join(str(x) for x in i.version[:3]),
                   "mpy": getattr(i, "_mpy", None), "machine": getattr(i, "_machine", ""), "root": R,
                   "free": st[1] * st[4], "standin": standin})
    if R and not standin:
        return              # a unix MicroPython that is not a stand-in: look no further
    show("state", "sets/state.json")
    for s in ("a", "b"):
        show("manifest_" + s, "sets/%s/manifest.json" % s)
        hash_tree("sets/" + s, "file_" + s)
    for rel in ("boot.py", "main.py", "lib/startup.mpy", "config.json"):
        emit("outside", [rel, sha256(path(rel))])
    key = None
    try:
        with open(path("update.key")) as f:
            key = f.read(100).strip()
    except OSError:
        pass
    emit("key", key)
    reader = None
    try:
        with open(path("config.json")) as f:
            reader = json.load(f).get("reader_id")
    except (OSError, ValueError, AttributeError):
        pass
    emit("reader_id", reader)


def remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def make_dirs(rel):
    parts = rel.split("/")
    for n in range(1, len(parts) + 1):
        try:
            os.mkdir(path("/".join(parts[:n])))
        except OSError:
            pass


def move(a, z):
    """Rename a onto z. FAT does not rename onto an existing file (LittleFS does)."""
    try:
        os.rename(a, z)
    except OSError:
        os.remove(z)
        os.rename(a, z)


def save(rel, text):
    """Write a small file through a .tmp copy and a rename: a power cut leaves the old or the new."""
    with open(path(rel) + ".tmp", "w") as f:
        f.write(text)
    move(path(rel) + ".tmp", path(rel))


def prep(slot, stale, dirs, state):
    """Before staging into `slot`: its manifest goes first (a half-written set never runs),
    then `state` (a pending trial of that set is called off), stale files, new folders."""
    if slot:
        remove(path("sets/%s/manifest.json" % slot))
        remove(path("sets/%s/manifest.json.tmp" % slot))
    if state is not None:
        save("sets/state.json", state)
    for rel in stale:
        remove(path(rel))
    for rel in dirs:
        make_dirs(rel)
    emit("prep", True)


def copy(pairs):
    """Copy files on the board, [source, target] relative paths, through the one buffer."""
    for a, z in pairs:
        f = open(path(a), "rb")
        g = open(path(z), "wb")
        while True:
            n = f.readinto(_BUF)
            if not n:
                break
            g.write(_VIEW[:n])
        f.close()
        g.close()
    emit("copied", len(pairs))


def hashes(top, rels):
    """The sha256 of every file under `top` (if any) and of each of `rels`, to check what was written."""
    if top:
        hash_tree(top, "tree")
    for rel in rels:
        emit("hash", [rel, sha256(path(rel))])


def final(slot, before, state, after, status):
    """Complete a staged deploy: the set's manifest, the files that must change before
    the switch, the switch (one rename of sets/state.json), the files after it, and the
    record of the deploy. Each step is skipped when done, so running it again is harmless."""
    if slot:
        m = path("sets/%s/manifest.json" % slot)
        if exists(m + ".new"):
            move(m + ".new", m)
    for rel in before:
        if exists(path(rel + ".new")):
            move(path(rel + ".new"), path(rel))
    if state is not None:
        save("sets/state.json", state)
    for rel in after:
        if exists(path(rel + ".new")):
            move(path(rel + ".new"), path(rel))
    if status is not None:
        save("update.json", status)
        remove(path("update.seen"))     # a set by cable: any bundle signed from now on is new
    emit("done", True)
