"""The device set: what `metereye deploy` puts on a board and what `metereye
update` sends to a reader as a signed bundle.

The board's flash, relative to its root ("" on a board, the stand-in's folder on a PC):

    boot.py            import startup; startup.boot()  (source: a board runs only .py here)
    main.py            import app; app.main()
    lib/startup.mpy    chooses the set to run (firmware/startup.py); outside the sets
    sets/a/, sets/b/   two code sets, each complete: firmware/*.mpy at its top,
                       lib/ (metereye, umqtt, microdot) and a manifest.json written last
    sets/state.json    which set runs, and an update on trial
    config.json, update.key, update.json, queue.jsonl, …   the reader's data, kept

The set is every file of lib/ and firmware/ (except the three above), plus
umqtt.simple and microdot from build/deps, compiled with mpy-cross with `-s`
source names so tracebacks name the source file. The .mpy files are bytecode
only (docs/decisions.md §25), so they load on any board with .mpy version 6.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections import namedtuple

from metereye import manifest
from metereye_tools.mpy import ROOT, mpy_cross

DEPS = os.path.join(ROOT, "build", "deps")
CACHE = os.path.join(ROOT, "build", "deploy", "mpy")
SOURCE_ONLY = ("boot.py", "main.py")        # MicroPython runs only source at the root
BOOT_SELECTOR = "startup.py"                 # -> lib/startup.mpy, outside the sets

SetFile = namedtuple("SetFile", "rel local size sha part")


class BundleError(Exception):
    """The set could not be built, or a bundle not pushed; the message says what to do."""


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


_version = None


def compiler_version():
    global _version
    if _version is None:
        _version = subprocess.run([mpy_cross(), "--version"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    return _version


def compile_file(src, rel):
    """src compiled with `-s rel`; the .mpy's path, in a cache keyed by what
    goes in (source, name, compiler), so a rebuild never serves stale bytecode."""
    with open(src, "rb") as f:
        source = f.read()
    key = hashlib.sha256(b"\0".join((source, rel.encode(), compiler_version().encode()))).hexdigest()
    out = os.path.join(CACHE, key[:32] + ".mpy")
    if not os.path.exists(out):
        os.makedirs(CACHE, exist_ok=True)
        tmp = out + ".%d.part" % os.getpid()
        run = subprocess.run([mpy_cross(), "-s", rel, "-o", tmp, src], capture_output=True, text=True)
        if run.returncode != 0:
            raise BundleError("mpy-cross refused %s:\n%s" % (src, run.stderr.strip()))
        os.replace(tmp, out)
    return out


def _entry(rel, local, part):
    with open(local, "rb") as f:
        data = f.read()
    return SetFile(rel, local, len(data), hashlib.sha256(data).hexdigest(), part)


def _sources(top):
    """(path relative to top, absolute path) of every .py under top, sorted."""
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found.append((os.path.relpath(path, top).replace(os.sep, "/"), path))
    return sorted(found)


def build_set(tree=ROOT, deps=DEPS):
    """The code set from `tree` (a checkout with lib/ and firmware/): [SetFile], by path."""
    missing = [name for name in ("umqtt/simple.py", "microdot/microdot.py")
               if not os.path.exists(os.path.join(deps, name))]
    if missing:
        raise BundleError("%s is missing from %s: run tools/setup.sh (python -m metereye_tools.deps)"
                          % (", ".join(missing), deps))
    files = []
    for rel, src in _sources(os.path.join(tree, "firmware")):
        if rel not in SOURCE_ONLY and rel != BOOT_SELECTOR:
            files.append(_entry(rel[:-3] + ".mpy", compile_file(src, rel), "firmware"))
    www = os.path.join(tree, "firmware", "www")
    for name in sorted(os.listdir(www)) if os.path.isdir(www) else ():
        # The page, served from flash beside web.mpy (web.py looks there).
        files.append(_entry("www/" + name, os.path.join(www, name), "firmware"))
    for rel, src in _sources(os.path.join(tree, "lib")):
        files.append(_entry("lib/" + rel[:-3] + ".mpy", compile_file(src, rel), "lib"))
    for rel, src in _sources(deps):
        files.append(_entry("lib/" + rel[:-3] + ".mpy", compile_file(src, rel), "deps"))
    return sorted(files)


def root_files(tree=ROOT):
    """The files outside the sets: boot.py and main.py as source, the set chooser compiled."""
    fw = os.path.join(tree, "firmware")
    files = [_entry(name, os.path.join(fw, name), "root") for name in SOURCE_ONLY]
    files.append(_entry("lib/startup.mpy", compile_file(os.path.join(fw, BOOT_SELECTOR), BOOT_SELECTOR),
                        "root"))
    return files


def set_id(files):
    """The name of a set of files (lib/metereye/manifest.py)."""
    return manifest.set_id([(f.rel, f.size, f.sha) for f in files])


def manifest_bytes(files, health_s=None, issued=None):
    return manifest.encode([(f.rel, f.size, f.sha) for f in files], health_s=health_s, issued=issued)


def make_bundle(files, key, health_s=None, issued=None):
    """The update bundle: header, manifest, then each file (format: lib/metereye/manifest.py).
    Signed with CPython's hmac, so every check on a reader also tests metereye.hmac.
    `issued` (ms since 1970) defaults to now: a reader takes only bundles newer than its last."""
    if issued is None:
        issued = time.time_ns() // 1000000
    body = manifest_bytes(files, health_s, issued)
    parts = [manifest.header(body, hmac.digest(key, body, "sha256")), body]
    for f in sorted(files):
        with open(f.local, "rb") as fh:
            parts.append(fh.read())
    return b"".join(parts)


def push(host, password, bundle, timeout_s=120):
    """POST the bundle to the reader's /api/update with the page's password
    (HTTP Basic auth); (accepted, the reader's message)."""
    url = "http://%s/api/update" % host
    auth = base64.b64encode(b"metereye:" + password.encode()).decode()
    req = urllib.request.Request(url, data=bundle, method="POST", headers={
        "Content-Type": "application/octet-stream", "Authorization": "Basic " + auth})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return True, _message(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        if e.code == 401:
            return False, "the reader refused the password (HTTP 401)"
        if e.code == 404:
            return False, "the reader has no update upload (%s: HTTP 404): its firmware predates it" % url
        if e.code == 413:
            return False, "the reader refused the upload as too large (HTTP 413)"
        return False, "%s (HTTP %d)" % (_message(body), e.code)
    except (urllib.error.URLError, OSError) as e:
        raise BundleError("cannot reach the reader at %s: %s" % (url, getattr(e, "reason", e)))


def _message(body):
    """The reader's answer: the updater's "message", or the page's "error"."""
    try:
        answer = json.loads(body)
        return answer.get("message") or answer["error"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return body.decode("utf-8", "replace").strip()
