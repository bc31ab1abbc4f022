#!/usr/bin/env bash
# Every test: the whole suite under CPython (pytest), and every lib/ test again
# under unix MicroPython (tests/test_on_micropython.py runs them). Installs what
# it needs into .venv/ (and, as root, the system packages the tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test
exec .venv/bin/python -m pytest "$@"
