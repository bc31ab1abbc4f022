"""The code sets on flash as the running set sees them: which set runs, whether
it is an update on trial, and the last update's outcome (update.json), which
MQTT and the page report.

startup.py chose the set at boot and wrote its choice to sets/state.json
(its docstring describes the file). It lives outside the sets, below them, and
only a deploy by cable replaces it: so the set never imports it, and reads
what it decided from that file and from where the set's own modules were
loaded (sets/<slot>/). This module writes state.json only to keep a set that
proved healthy (confirm()); updater.py writes it to stage a new set.
"""

import flashfile

STATE = "sets/state.json"
STATUS = "update.json"
HEALTH_S = 180      # how long a new set has to prove healthy, unless its bundle says otherwise


def slot():
    """The set this code was loaded from ("a" or "b"); None when not run from a set
    (the firmware run from the repository, a board set up by hand)."""
    path = __file__
    if path.startswith("/"):
        path = path[1:]
    if path.startswith("sets/") and path[6:7] == "/":
        return path[5]
    return None


def set_id(name):
    """The name of the set in slot `name`, from its manifest; None if there is none."""
    m = flashfile.load_json("sets/%s/manifest.json" % name) if name else None
    return m.get("set") if m else None


def running():
    """(slot, set name) of the set this boot runs; (None, None) without sets."""
    s = slot()
    return s, set_id(s)


def on_trial():
    """True while this boot runs an update that has not proved healthy yet."""
    s = slot()
    st = flashfile.load_json(STATE) if s else None
    return bool(st) and st.get("trial") == s


def health_s():
    st = flashfile.load_json(STATE) or {}
    return st.get("health_s") or HEALTH_S


def confirm():
    """The set on trial proved healthy: it becomes the active set."""
    if not on_trial():
        return
    s = slot()
    previous = (flashfile.load_json(STATE) or {}).get("active")
    flashfile.save_json(STATE, {"active": s, "trial": None, "tries": 0, "previous": previous})
    flashfile.save_json(STATUS, {"status": "updated", "set": set_id(s), "from": set_id(previous)})


def crashed(reason):
    """Note why the set on trial failed, just before the reset that rolls it back."""
    if on_trial():
        flashfile.save_json(STATUS, {"status": "crashed", "set": set_id(slot()), "reason": reason})


def status():
    """The last update's outcome (update.json) for MQTT and the page, or None;
    while this boot tries an update, that."""
    if on_trial():
        return {"status": "trial", "set": set_id(slot()), "health_s": health_s()}
    return flashfile.load_json(STATUS)
