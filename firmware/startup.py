"""Boot-time choice of the code set, and the trial of an update.

boot.py runs `import startup; startup.boot()` before main.py imports the app.

The flash holds two code sets, sets/a and sets/b. Each is complete, with its
own lib/, and has a manifest.json that is written last. A set without a
manifest is unfinished and never runs. sets/state.json says which set runs:

    {"active": "a", "trial": "b", "tries": 0, "health_s": 180}

`active` is the set known to be good. After a deploy or a kept update,
`previous` names the set that ran before, still whole in the other folder
until the next update overwrites it. `trial` is a verified update: waiting
for its first boot (tries 0), or running it (tries 1). A trial runs once. It
becomes active only when the running set confirms it (codesets.confirm():
main loop running, and a meter read or a target reached; updater.watch_trial).
A boot that finds a trial already tried runs the active set again and writes
why to update.json. Why can be: it crashed, it hung until the watchdog, it was
reset as unhealthy, or it lost power first. The app reports update.json over
MQTT and on the page. state.json is replaced by a rename, so a power cut
leaves the old choice or the new one, and both name a complete set.

This module is not part of a set. It lives in lib/ (on the board's default
sys.path, and in MICROPYPATH=.frozen:lib on the stand-in), and only a deploy
by cable changes it, so a broken update cannot break the way back. It sits
below the sets: it imports nothing of theirs but, while trying an update, the
set's entry module `app` (what main.py would import next), and no module of a
set imports it (firmware/codesets.py reads its decisions from state.json).
So it keeps its own load() and save(), the few lines firmware/flashfile.py
holds for the sets.
"""

import gc
import json
import os
import sys

STATE = "sets/state.json"
STATUS = "update.json"
HEALTH_S = 180      # how long a new set has to prove healthy, unless its bundle says otherwise


def load(path):
    """A JSON file written by save(), or None. During save()'s fallback, the
    complete copy may still be only the .tmp file."""
    for p in (path, path + ".tmp"):
        try:
            with open(p) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return None


def save(path, obj):
    """Write JSON so that a power cut leaves the old file or the new one, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT does not rename onto an existing file (LittleFS, the ESP32 default, does).
        # Until the rename below, load() reads the complete .tmp.
        os.remove(path)
        os.rename(tmp, path)


def _complete(slot):
    try:
        os.stat("sets/%s/manifest.json" % slot)
        return True
    except OSError:
        return False


def set_id(slot):
    """The name of the set in `slot`, from its manifest; None if there is none."""
    m = load("sets/%s/manifest.json" % slot) if slot else None
    return m.get("set") if m else None


def _use(slot):
    base = "sets/" + slot
    # Only the set and the firmware's frozen modules (asyncio): files a person
    # left in / or /lib by hand must not shadow the set's own.
    sys.path.clear()
    sys.path.extend((base, base + "/lib", ".frozen"))


def _try_import():
    """Import the trial set's app now, so a set that fails at import is caught
    here instead of leaving main.py at the REPL. None, or why it failed."""
    before = set(sys.modules)
    try:
        import app  # noqa: F401  (main.py finds it in sys.modules)
        return None
    except Exception as e:
        sys.print_exception(e)
        for name in list(sys.modules):      # nothing of the failed set may stay loaded
            if name not in before:
                del sys.modules[name]
        return "failed at import: " + repr(e)


def _roll_back(st, reason):
    trial, active = st["trial"], st.get("active")
    tried = set_id(trial)
    last = load(STATUS) or {}
    if reason is None:
        if last.get("set") == tried and last.get("reason"):
            reason = last["reason"]         # what the app noted before its reset (crashed())
        else:
            reason = "did not report healthy: it reset or lost power before it was confirmed"
    # The reason first: a power cut between the two writes rolls back again and keeps it.
    save(STATUS, {"status": "rolled_back", "set": tried, "running": set_id(active), "reason": reason})
    save(STATE, {"active": active, "trial": None, "tries": 0})
    print("metereye: update", tried, "rolled back:", reason)


def boot():
    """Choose the set to run and put it on sys.path (boot.py calls this)."""
    _choose()
    gc.collect()


def _choose():
    st = load(STATE)
    if st is None:
        return          # no sets: a board set up by hand, or the firmware run from the repo
    active, trial = st.get("active"), st.get("trial")
    if trial and trial != active and _complete(trial):
        if not st.get("tries"):
            st["tries"] = 1
            save(STATE, st)             # before any new code runs: from here on a crash counts
            print("metereye: trying update", set_id(trial), "- kept if healthy within",
                  st.get("health_s") or HEALTH_S, "s")
            _use(trial)
            why = _try_import()
            if why is None:
                return
            _roll_back(st, why)
        else:
            _roll_back(st, None)
    if not (active and _complete(active)):
        # Only a set written by hand could get here; run whichever set is complete.
        active = "b" if active == "a" else "a"
        if not _complete(active):
            print("metereye: no complete code set on flash: deploy again")
            return
    _use(active)

