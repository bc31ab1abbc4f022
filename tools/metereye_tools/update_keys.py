"""Where `metereye deploy` keeps each reader's update key for `metereye update`:
~/.config/metereye/update-keys.json (or $METEREYE_KEYS), by reader id,
readable only by this user."""

import json
import os

from metereye_tools.cliutil import EXIT_USAGE, CommandError


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
    """Keep a reader's update key; False when it was kept already."""
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


def is_key(text):
    """A key as deploy makes them: 32 bytes, in hex."""
    try:
        return isinstance(text, str) and len(bytes.fromhex(text)) == 32
    except ValueError:
        return False


def pick_key(reader=None, key_file=None):
    """(name, key bytes) for signing a bundle; CommandError (exit 2) says which key is missing."""
    if key_file:
        with open(key_file) as f:
            return os.path.basename(key_file), bytes.fromhex(f.read().strip())
    keys = load_keys()
    if reader:
        if reader not in keys:
            raise CommandError("no update key for reader %r in %s (known: %s); deploy it once by cable"
                               % (reader, keys_path(), ", ".join(sorted(keys)) or "none"), EXIT_USAGE)
        return reader, bytes.fromhex(keys[reader])
    if not keys:
        raise CommandError("no update keys in %s: deploy the reader once by cable (metereye deploy), "
                           "or give --key-file" % keys_path(), EXIT_USAGE)
    if len(keys) > 1:
        raise CommandError("%s holds keys for several readers: name one with --reader (%s)"
                           % (keys_path(), ", ".join(sorted(keys))), EXIT_USAGE)
    name = next(iter(keys))
    return name, bytes.fromhex(keys[name])
