"""The configuration file on flash: read, validated, written so a power cut
mid-write loses nothing (flashfile: temp file, then rename)."""

import json

import flashfile
from metereye.config import validate

PATH = "config.json"


def load(path=PATH):
    """The validated configuration; None when there is none yet (first boot), or
    when what is there is not JSON (setup then asks for it again)."""
    given = flashfile.load_json(path)
    return None if given is None else validate(given)


def save(cfg, path=PATH):
    cfg = validate(cfg)
    flashfile.write(path, json.dumps(cfg))
    return cfg
