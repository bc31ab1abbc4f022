"""Third-party device code, fetched at set-up into build/deps/ (git-ignored), never committed.

    python -m metereye_tools.deps      (tools/setup.sh runs it; cheap when done)

- umqtt.simple 1.3.4: pip cannot install its sdist (it has no setup.py
  or pyproject.toml), so it is fetched by name from the package index pip uses by
  default, through the index's JSON simple API, and both the sdist and the
  extracted file are checked against pinned sha256s.
- microdot 2.7.0: pip installs it into .venv (the dev extra); its three device
  files are copied from there (docs/decisions.md §2).

The unix MicroPython port finds them with MICROPYPATH=.frozen:build/deps:lib:firmware.
"""

import hashlib
import io
import json
import os
import ssl
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, "build", "deps")

UMQTT_PROJECT = "micropython-umqtt-simple"            # the normalised name the simple API uses
UMQTT_VERSION = "1.3.4"
UMQTT_SDIST = "micropython-umqtt.simple-1.3.4.tar.gz"
UMQTT_SDIST_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
UMQTT_MEMBER = "micropython-umqtt.simple-1.3.4/umqtt/simple.py"
UMQTT_SHA256 = "8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5"

MICRODOT_VERSION = "2.7.0"
MICRODOT_FILES = ("__init__.py", "microdot.py", "helpers.py")

_JSON_SIMPLE = "application/vnd.pypi.simple.v1+json"
_TIMEOUT_S = 30


class DepsError(Exception):
    """A dependency could not be fetched or did not match its pin; the message says what to do."""


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path):
    try:
        with open(path, "rb") as f:
            return _sha256(f.read())
    except FileNotFoundError:
        return None


def _write_atomic(path, data):
    """Write `path` so that an interrupted set-up never leaves half a file behind."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def index_url():
    """The index pip would ask: PIP_INDEX_URL if the user set one, else pip's own default."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        from pip._internal.models.index import PyPI    # pip's default, so no host is written here

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def _tls_context():
    """Verify the index's certificate with the CA file pip is told to use, else pip's own."""
    cafile = os.environ.get("PIP_CERT")
    if not cafile:
        try:
            from pip._vendor import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def _get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    kw = {"context": _tls_context()} if url.startswith("https:") else {}
    with urllib.request.urlopen(req, timeout=_TIMEOUT_S, **kw) as resp:
        return resp.read()


def fetch_umqtt(dest=DEPS, index=None):
    """Put umqtt/simple.py under `dest`; "present" when it already matched, else "fetched"."""
    target = os.path.join(dest, "umqtt", "simple.py")
    if _file_sha256(target) == UMQTT_SHA256:
        return "present"
    page_url = urllib.parse.urljoin(index or index_url(), UMQTT_PROJECT + "/")
    try:
        page = json.loads(_get(page_url, _JSON_SIMPLE))
        entry = next((f for f in page.get("files", ()) if f.get("filename") == UMQTT_SDIST), None)
        if entry is None:
            raise DepsError("%s lists no %s: the index no longer serves umqtt.simple %s"
                            % (page_url, UMQTT_SDIST, UMQTT_VERSION))
        listed = entry.get("hashes", {}).get("sha256")
        if listed is not None and listed != UMQTT_SDIST_SHA256:
            raise DepsError("the index lists sha256 %s for %s, pinned is %s: refusing it"
                            % (listed, UMQTT_SDIST, UMQTT_SDIST_SHA256))
        # The link may be relative to the page and carry a #sha256= fragment.
        sdist_url = urllib.parse.urljoin(page_url, entry["url"]).split("#")[0]
        sdist = _get(sdist_url)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DepsError("cannot fetch umqtt.simple %s from the package index %s (%s). It is needed "
                        "for the device's MQTT; connect to the network and run tools/setup.sh again."
                        % (UMQTT_VERSION, page_url, reason)) from None
    if _sha256(sdist) != UMQTT_SDIST_SHA256:
        raise DepsError("%s has sha256 %s, pinned is %s: refusing it"
                        % (UMQTT_SDIST, _sha256(sdist), UMQTT_SDIST_SHA256))
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as tar:
        member = tar.extractfile(UMQTT_MEMBER)
        if member is None:
            raise DepsError("%s holds no %s" % (UMQTT_SDIST, UMQTT_MEMBER))
        source = member.read()
    if _sha256(source) != UMQTT_SHA256:
        raise DepsError("%s in %s has sha256 %s, pinned is %s"
                        % (UMQTT_MEMBER, UMQTT_SDIST, _sha256(source), UMQTT_SHA256))
    _write_atomic(target, source)
    return "fetched"


def copy_microdot(dest=DEPS):
    """Copy microdot's device files from the installed package; "present" or "copied"."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        installed = version("microdot")
    except PackageNotFoundError:
        installed = None
    if installed != MICRODOT_VERSION:
        raise DepsError("microdot %s is needed in %s (found %s): run tools/setup.sh"
                        % (MICRODOT_VERSION, sys.prefix, installed or "none"))
    import microdot

    src_dir = os.path.dirname(microdot.__file__)
    changed = False
    for name in MICRODOT_FILES:
        with open(os.path.join(src_dir, name), "rb") as f:
            data = f.read()
        target = os.path.join(dest, "microdot", name)
        if _file_sha256(target) != _sha256(data):
            _write_atomic(target, data)
            changed = True
    return "copied" if changed else "present"


def main():
    try:
        umqtt = fetch_umqtt()
        microdot = copy_microdot()
    except DepsError as e:
        print("metereye deps: %s" % e, file=sys.stderr)
        return 1
    if umqtt != "present":
        print("fetched umqtt.simple %s into %s" % (UMQTT_VERSION, os.path.relpath(DEPS, os.getcwd())))
    if microdot != "present":
        print("copied microdot %s into %s" % (MICRODOT_VERSION, os.path.relpath(DEPS, os.getcwd())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
