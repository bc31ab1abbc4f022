"""Files on flash replaced whole or not at all.

write() puts the new content in PATH.tmp and renames it over PATH, so a power
cut leaves the old file or the new one, never half of one. FAT refuses to
rename onto an existing file (LittleFS, the ESP32's default, does not): there
the old file is removed first, and until the rename only PATH.tmp holds the
content, complete. So readers open through open_latest(), which finishes such
a write when it finds PATH.tmp without PATH. (A PATH.tmp torn by a cut in the
very first write of PATH is finished too; its readers take a torn file as
none: JSON that does not parse, a last line without its newline.)

startup.py has its own copy of these few lines: it runs before any code set
is on sys.path, and an update never replaces it (startup.py says more).
"""

import json
import os


def write(path, parts):
    """Replace `path` with `parts`: a str or bytes, or an iterable of str
    written one after the other (a file copied a line at a time, say)."""
    tmp = path + ".tmp"
    mode = "wb" if isinstance(parts, bytes) else "w"
    if isinstance(parts, (str, bytes)):
        parts = (parts,)
    with open(tmp, mode) as f:
        for part in parts:
            f.write(part)
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)


def open_latest(path, mode="r"):
    """`path` opened for reading, after finishing a write that was cut between its
    remove and its rename; OSError when there is neither."""
    try:
        return open(path, mode)
    except OSError:
        os.rename(path + ".tmp", path)      # OSError when there is no .tmp either
        return open(path, mode)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def load_json(path):
    """The JSON in `path` (see open_latest), or None when there is none or it is torn."""
    try:
        with open_latest(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_json(path, obj):
    write(path, json.dumps(obj))
