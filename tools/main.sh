#!/usr/bin/env bash
# The main job: a simulated Multical 21 and the PC reader reading it, printing
# each reading, until Ctrl-C (or METEREYE_RUN_SECONDS=N seconds). Installs what
# it needs into .venv/ first.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/metereye demo "$@"
