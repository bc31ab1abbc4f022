"""Updates without a cable: the reader's side.

An update bundle (lib/metereye/manifest.py has the format) arrives over HTTP,
behind the page's password. receive_bundle() stages it in the set the reader
is not running. The HMAC over the manifest, keyed by update.key (written by
`metereye deploy`), is checked before a byte is written, and each file's
sha256 is checked as it is written. Only then is the set marked as a trial for
the next boot. startup.py switches to it and rolls it back by itself unless
watch_trial() sees the app healthy in time (codesets.py: what the running set
knows of startup's choice). Nothing here switches the running
set, so a refused or torn upload leaves the reader as it was. A bundle signed
no later than the last one staged (manifest "issued") is a replay: refused.

Imported only when a bundle arrives or an update is on trial (docs/style.md R13).
"""

import gc
import os
import hashlib
from binascii import hexlify, unhexlify

import asyncio
import codesets
import flashfile
import hw
import log
import runtime
from metereye import manifest
from metereye.hmac import Hmac, compare_digest

KEY = "update.key"
SEEN = "update.seen"        # the `issued` of the last bundle staged: older ones are replays
CHUNK = 512                 # bytes read and written at a time: small enough for a fragmented heap
READ_TIMEOUT_MS = 10000     # a stalled upload gives up rather than hold the handler forever
SPARE_BYTES = 16384         # flash left free after staging, for the queue and the config


_busy = False               # one upload at a time: two would interleave their writes in one set


class Refused(Exception):
    """A bundle the reader will not stage; the message says why."""


def _other(slot):
    return "b" if slot == "a" else "a"


def _walk(folder, prefix=""):
    """Every file under folder: [(relative path, size)]."""
    found: list = []
    try:
        entries = list(os.ilistdir(folder))
    except OSError:
        return found
    for entry in entries:
        name, kind = entry[0], entry[1]
        if kind == 0x4000:
            found.extend(_walk(folder + "/" + name, prefix + name + "/"))
        else:
            found.append((prefix + name, os.stat(folder + "/" + name)[6]))
    return found


def _makedirs(path):
    """Create each folder of path's parent, like os.makedirs(exist_ok=True)."""
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        try:
            os.mkdir("/".join(parts[:i]))
        except OSError as e:
            if e.args[0] != 17:     # EEXIST
                raise


def _free_bytes():
    st = os.statvfs(".")
    return st[1] * st[4]            # f_frsize * f_bavail


def _key():
    try:
        with open(KEY) as f:
            return unhexlify(f.read().strip())
    except (OSError, ValueError):
        return None


def _last_issued():
    try:
        with flashfile.open_latest(SEEN) as f:
            return int(f.read())
    except (OSError, ValueError):
        return -1


async def _fill(stream, view):
    """Fill a memoryview from the upload, at most CHUNK bytes a read (a larger read
    makes the stream allocate a second block as large), or Refused."""
    got, n = 0, len(view)
    while got < n:
        try:
            chunk = await asyncio.wait_for_ms(stream.read(min(n - got, CHUNK)), READ_TIMEOUT_MS)
        except asyncio.TimeoutError:
            chunk = None
        if not chunk:
            raise Refused("the upload ended or stalled before the bundle was complete")
        view[got:got + len(chunk)] = chunk
        got += len(chunk)


async def _pass_on(stream, buf, size, first, second):
    """The next `size` bytes of the upload, through buf (a memoryview of CHUNK
    bytes), each piece handed to first() then second()."""
    while size:
        piece = buf[:min(size, CHUNK)]
        await _fill(stream, piece)
        first(piece)
        second(piece)
        size -= len(piece)


async def _read(stream, n):
    """Exactly n bytes from the upload, in one buffer (for the 40-byte header)."""
    data = bytearray(n)
    await _fill(stream, memoryview(data))
    return data


def _sha256_of(path, buf):
    """The sha256 of a file as it reads back from flash, through buf (a memoryview)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n])
    return hexlify(h.digest()).decode()


async def _write_checked(stream, path, size, sha, rel, buf):
    """Copy one file from the upload to flash through buf (a memoryview of
    CHUNK bytes, the same for every file), hashing as it goes."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        await _pass_on(stream, buf, size, h.update, f.write)
    if hexlify(h.digest()).decode() != sha:
        raise Refused("%s does not match its sha256 in the signed manifest: the bundle was "
                      "changed after it was signed, or damaged on the way" % rel)


async def _stage(stream, length):
    running = codesets.slot()
    if running is None:
        raise Refused("this reader was not installed with `metereye deploy`: it has no code sets to update")
    if codesets.on_trial():
        raise Refused("an update is on trial until it proves healthy: try again once it is kept or rolled back")
    key = _key()
    if not key:
        raise Refused("the reader has no update key: deploy once by cable (`metereye deploy`)")
    buf = memoryview(bytearray(CHUNK))      # every piece of the upload passes through this one buffer
    try:
        size, mac = manifest.parse_header(await _read(stream, manifest.HEADER_LEN))
        # The manifest is parsed and signed as it arrives: on a heap fragmented by
        # the running reader, one free block as large as the manifest may not exist.
        signed, parsed = Hmac(key), manifest.Reader()
        await _pass_on(stream, buf, size, signed.update, parsed.feed)
        if not compare_digest(signed.digest(), mac):
            raise Refused("the manifest's HMAC does not match: the bundle was not signed with this "
                          "reader's update key, or was changed after signing; nothing was written")
        m = parsed.done()
    except manifest.ManifestError as e:
        if isinstance(e.args[1], bytes):    # a fragment of what was sent, which was not signed
            e = manifest.ManifestError(e.args[0], "unreadable")
        raise Refused("not a valid bundle (%s: %s)" % (e.args[0], e.args[1]))
    del parsed
    issued, last = m.get("issued"), _last_issued()
    if issued is None:
        raise Refused("the bundle carries no signing time: make it again with this version of `metereye update`")
    if issued <= last:
        raise Refused("the bundle was signed at %d ms, not after the last one this reader staged (%d ms): "
                      "an old bundle sent again is refused. Make a new one with `metereye update` (and "
                      "check that PC's clock); a deploy by cable of a new set clears the record" % (issued, last))
    files = m["files"]
    total = sum(e[1] for e in files)
    if manifest.HEADER_LEN + size + total != length:
        raise Refused("the upload is %d bytes, its manifest adds up to %d"
                      % (length, manifest.HEADER_LEN + size + total))
    slot = _other(running)
    base = "sets/" + slot
    st = flashfile.load_json(codesets.STATE) or {}
    if st.get("trial") == slot:         # an earlier bundle, staged but never booted: replaced
        st["trial"] = None
        flashfile.save_json(codesets.STATE, st)
    # The manifest goes first, so a power cut from here on leaves an unfinished set
    # that never runs; then the old files, whose space the new ones need.
    for rel, _ in [(manifest.NAME, 0)] + _walk(base):
        try:
            os.remove(base + "/" + rel)
        except OSError:
            pass
    if _free_bytes() < total + SPARE_BYTES:
        raise Refused("not enough flash: the set needs %d bytes, %d are free" % (total, _free_bytes()))
    for path, fsize, sha in files:
        _makedirs(base + "/" + path)
        await _write_checked(stream, base + "/" + path, fsize, sha, path, buf)
    # What was received matched; now what flash holds must match too.
    for path, fsize, sha in files:
        if _sha256_of(base + "/" + path, buf) != sha:
            raise Refused("%s reads back from flash with another sha256: the flash may be failing" % path)
    # Written last: until then the set is unfinished and never runs.
    flashfile.write(base + "/" + manifest.NAME, manifest.parts(files, m.get("health_s"), issued))
    del files
    gc.collect()
    flashfile.write(SEEN, str(issued))  # before the switch: a power cut after it can only refuse a replay
    # No "previous": the set that was there is gone, overwritten by this one.
    flashfile.save_json(codesets.STATE, {"active": running, "trial": slot, "tries": 0,
                                         "health_s": m.get("health_s") or codesets.HEALTH_S})
    flashfile.save_json(codesets.STATUS, {"status": "staged", "set": m["set"], "running": codesets.set_id(running)})
    return m["set"]


async def receive_bundle(stream, length):
    """Check and stage an update bundle of `length` bytes read from `stream`,
    which is anything with `async read(n)`, such as microdot's request.stream.

    The caller checks the page's password first. Returns {"ok": True, "set": id,
    "message": …} once the set is staged; the reader switches to it at its next
    boot, so reset it (hw.reset) after answering. Otherwise returns {"ok": False,
    "message": why}, and nothing that runs has changed.
    """
    global _busy
    if _busy:
        return {"ok": False, "message": "another update is being received: try again when it is done"}
    _busy = True
    try:
        set_name = await _stage(stream, length)
    except Refused as e:
        log.warn("update", "refused:", e.args[0])
        return {"ok": False, "message": e.args[0]}
    except OSError as e:
        log.warn("update", "refused: flash error", repr(e))
        return {"ok": False, "message": "flash error while staging: %r" % e}
    except MemoryError:
        gc.collect()
        log.warn("update", "refused: out of memory")
        return {"ok": False, "message": "the reader ran out of memory receiving the bundle (%d bytes free "
                                        "after collecting); nothing was switched" % gc.mem_free()}
    finally:
        _busy = False
        gc.collect()
    log.info("update", "staged set", set_name, "- switching at the next boot")
    return {"ok": True, "set": set_name,
            "message": "set %s verified and staged; the reader switches to it at its next boot, "
                       "and rolls back by itself unless it proves healthy" % set_name}


async def watch_trial(app):
    """While an update is on trial, keep it once the app is healthy (main loop
    running, and a meter read or the broker reached). If it is not healthy
    in time, note why and reset: the next boot rolls it back."""
    limit_s = codesets.health_s()
    while True:
        if app.healthy and (app.latest or app.target_reached()):
            codesets.confirm()
            app.update = codesets.status()
            log.info("update", "set", codesets.running()[1], "is healthy: kept")
            app.report_update()         # MQTT's retained copy; sent again on the next connect if it fails
            return
        if runtime.uptime_s() >= limit_s:
            why = "not healthy %d s after boot: %s" % (
                limit_s, "main loop not running" if not app.healthy
                else "no meter read and no broker or server reached")
            log.error("update", why)
            codesets.crashed(why)
            hw.reset("update not healthy")
        await asyncio.sleep_ms(1000)
