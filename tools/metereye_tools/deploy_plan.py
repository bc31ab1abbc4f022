"""What `metereye deploy` writes to a board, and in what order: the firmware
from this repo onto a board by cable.

1. probe: what the board is (.mpy version, platform, free flash) and what it
   holds (each set's manifest, and the sha256 of every file, hashed on the
   board). A board whose `_mpy & 0xFF != 6` is refused (docs/decisions.md §25).
2. stage: the new set goes into the set the board does not run. Its
   manifest is deleted first, so a half-written set is never run. Files that
   the staging set or the running set already hold are kept or copied on the
   board; only the others cross the cable, the new manifest among them as
   manifest.json.new. Then every file of the set is hashed on the board and
   compared.
3. finalize: the manifest is renamed into place last, then sets/state.json
   switches the board to the new set with one rename (startup.py reads it at
   boot). The files outside the sets (boot.py, main.py, lib/startup.mpy,
   config.json, update.key) are written as NAME.new, checked, and renamed
   into place.

If a deploy is stopped anywhere, the board still boots the old set, and the
next deploy finds the unfinished set and completes it. Every remote path is
ROOT + "/" + relative path. ROOT is "" on a board. On the unix port it is the
stand-in's own folder (absolute), and only a folder marked by the stand-in is
accepted: nothing is ever written to /lib or /main.py of the host (docs/decisions.md §24).
"""

import copy
import hashlib
import json
import os
import secrets
import shutil
import tempfile

from metereye.config import SECRET_KEYS, validate
from metereye.errors import ConfigError
from metereye_tools import bundle
from metereye_tools.bundle import set_id
from metereye_tools.cliutil import EXIT_USAGE, byte_count
from metereye_tools.deploy_board import Board, DeployError, check_board, probe, reset_board, step_code
from metereye_tools.update_keys import is_key, keys_path, save_key

SPARE_BYTES = 32 * 1024     # flash left for the queue, the config and the update status
CP_PER_FEED = 8             # files copied between two feeds of an ESP32's watchdog
ROOT_BEFORE_SWITCH = ("lib/startup.mpy",)                   # must understand the new state first
ROOT_AFTER_SWITCH = ("config.json", "update.key", "main.py", "boot.py")


# --- configuration ------------------------------------------------------------------

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


# --- the plan ------------------------------------------------------------------------

class Plan:
    """What a deploy writes, worked out from the probe before anything is written."""

    def __init__(self, info, files, roots, config_text, new_key):
        self.files = files
        self.set_id = set_id(files)
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
        self.new_key = new_key or not is_key(self.board_key)
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
    out("set %s: %d files, %s (%s)" % (set_id(files), len(files), byte_count(total),
                                        ", ".join("%s %s" % (k, byte_count(v)) for k, v in sorted(parts.items()))))
    out("outside the sets: %d files, %s" % (len(roots), byte_count(sum(f.size for f in roots))))


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
    info = probe(port, out)
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
                          % (byte_count(need), byte_count(board.get("free", 0))))
    if plan.unfinished:
        out("sets/%s holds an unfinished deploy or update (files but no manifest): completing it" % plan.slot)
    if plan.set_changed:
        out("set %s: %d files, %s; %d to send, %d copied on the board, %d already there"
            % (plan.set_id, len(files), byte_count(sum(f.size for f in files)), len(plan.send),
               len(plan.copies), len(plan.kept)))
    key_hex = secrets.token_hex(32) if plan.new_key else plan.board_key
    target = Board(port, root, out)
    stage(target, plan, key_hex, out)
    finalize(target, plan, out)
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
    out("sent %s over the cable" % byte_count(plan.bytes_sent()))
    if reset:
        reset_board(port)
    return plan


def stage(board, plan, key_hex, out):
    """Write every file that must change, then hash the set and the new files on
    the board; a file that reads back wrong is sent once more."""
    tmp = tempfile.mkdtemp(prefix="metereye-deploy-")     # 0700: the config and key pass through here
    try:
        slot = plan.slot
        local = {f.rel + ".new": f.local for f in plan.roots}
        sends = ["sets/%s/%s" % (slot, f.rel) for f in plan.send] + [f.rel + ".new" for f in plan.roots]
        expected = {}
        if slot:
            local.update({"sets/%s/%s" % (slot, f.rel): f.local for f in plan.files})
            expected = {"sets/%s/%s" % (slot, f.rel): f.sha for f in plan.files}
            manifest_new = "sets/%s/manifest.json.new" % slot
            local[manifest_new] = _private_file(tmp, "manifest.json", bundle.manifest_bytes(plan.files).decode())
            expected[manifest_new] = bundle.sha256_file(local[manifest_new])
            sends.append(manifest_new)
        if plan.config_changed:
            local["config.json.new"] = _private_file(tmp, "config.json", plan.config_text)
            sends.append("config.json.new")
        if plan.new_key:
            local["update.key.new"] = _private_file(tmp, "update.key", key_hex + "\n")
            sends.append("update.key.new")
        outside = [dst for dst in sends if not dst.startswith("sets/")]
        expected.update({dst: bundle.sha256_file(local[dst]) for dst in outside})
        dirs = sorted({os.path.dirname(dst) for dst in expected if os.path.dirname(dst)})
        # A trial waiting in the staging set must not boot while the set is rewritten.
        state = None
        if slot and plan.trial_pending:
            state = json.dumps({"active": plan.active, "trial": None, "tries": 0})
        root = board.root
        for attempt in (1, 2):
            commands = []
            if attempt == 1:
                commands.append(["exec", step_code(root, "prep", slot, plan.remove, dirs, state)])
                for i in range(0, len(plan.copies), CP_PER_FEED):
                    pairs = [list(p) for p in plan.copies[i:i + CP_PER_FEED]]
                    commands.append(["exec", step_code(root, "copy", pairs)])
            for i, dst in enumerate(sends):
                if i and i % CP_PER_FEED == 0:
                    commands.append(["exec", step_code(root, "start", root)])    # feeds an ESP32's watchdog
                commands.append(["fs", "cp", "-f", local[dst], board.remote(dst)])
            commands.append(["exec", step_code(root, "hashes", "sets/" + slot if slot else "", outside)])
            sent = [0]

            def progress(line, total=len(sends)):
                sent[0] += 1
                if total > 4 and (sent[0] % 10 == 0 or sent[0] == total):
                    out("  sent %d of %d files" % (sent[0], total))
            answers = board.run(commands, progress)
            got = {"sets/%s/%s" % (slot, rel): sha for rel, sha in answers.all("tree")}
            got.update(dict(answers.all("hash")))
            bad = sorted(dst for dst, sha in expected.items() if got.get(dst) != sha)
            if not bad:
                return
            if attempt == 2:
                raise DeployError("read back from the board with a different sha256, twice: %s. Its flash "
                                  "may be failing; the board still runs its previous set" % ", ".join(bad))
            out("  %d files read back wrong from the board: sending them again" % len(bad))
            sends = bad
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def finalize(board, plan, out):
    """The manifest last, then the switch, then the files outside the sets."""
    state = status = None
    if plan.slot:
        state = json.dumps({"active": plan.slot, "trial": None, "tries": 0, "previous": plan.active})
        status = json.dumps({"status": "deployed", "set": plan.set_id, "from": plan.active_id})
    elif plan.trial_pending:
        state = json.dumps({"active": plan.active, "trial": None, "tries": 0})
    answers = board.step("final", plan.slot, list(ROOT_BEFORE_SWITCH), state, list(ROOT_AFTER_SWITCH), status)
    if not answers.one("done"):
        raise DeployError("the board did not confirm the switch; run deploy again to complete it")
    if plan.roots:
        out("outside the sets: %s written" % ", ".join(f.rel for f in plan.roots))


def _private_file(folder, name, text):
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
