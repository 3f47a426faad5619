#!/usr/bin/env bash
# The main job, from a fresh clone: set up .venv, then run `costmodel demo` (arguments pass on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh plots
exec .venv/bin/costmodel demo "$@"
