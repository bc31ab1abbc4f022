#!/usr/bin/env bash
# The main job: a simulated Multical 21, the reader firmware on unix MicroPython
# reading it, publishing to a local MQTT broker and serving its page; prints each
# reading until Ctrl-C (or METEREYE_RUN_SECONDS=N seconds). Installs what it
# needs into .venv/ first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/metereye demo "$@"
