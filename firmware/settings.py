"""The configuration file on flash: read, validated, written so a power cut
mid-write loses nothing (temp file, then rename)."""

import json
import os

from metereye.config import defaults, validate

PATH = "config.json"


def load(path=PATH):
    """The validated configuration; None when there is none yet (first boot)."""
    try:
        with open(path) as f:
            given = json.load(f)
    except OSError:
        return None
    return validate(given)


def save(cfg, path=PATH):
    cfg = validate(cfg)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.rename(tmp, path)
    return cfg


def blank():
    return defaults()
