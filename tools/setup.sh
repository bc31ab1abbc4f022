#!/usr/bin/env bash
# Make .venv/ hold everything metereye needs; cheap when it already does.
# Usage: tools/setup.sh [--test]   (--test adds the system packages the tests use)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

pick_python() {
    for p in python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
            echo "$p"; return
        fi
    done
    echo "metereye needs Python 3.10 or newer" >&2; exit 1
}

if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
fi
stamp=.venv/.metereye-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ ! -x .venv/bin/metereye ]; then
    echo "installing metereye and its tools into .venv/ (log: .venv/setup.log)"
    if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
           .venv/bin/python -m pip install --quiet -e '.[dev]'; } >.venv/setup.log 2>&1; then
        cat .venv/setup.log >&2; exit 1
    fi
    touch "$stamp"
fi
.venv/bin/python -m metereye_tools.deps   # umqtt.simple and microdot into build/deps/ (skips what is there)

if [ "$want_test" = 1 ]; then
    # The ESP32 firmware's type stubs, each board in build/stubs/ (never in .venv: they
    # replace CPython's stdlib for a type checker); tests/firmware/test_device_types.py uses them.
    .venv/bin/python tools/typecheck/device_types.py --install
    missing=()
    for cmd_pkg in $(cat tools/system-packages.txt 2>/dev/null); do
        cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg##*:}
        # A line names a command, or (for a library) a file the package installs.
        command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "installing system packages: ${missing[*]}"
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "missing system packages (tests that need them will skip): ${missing[*]}" >&2
            echo "install with: sudo apt-get install ${missing[*]}" >&2
        fi
    fi
fi
