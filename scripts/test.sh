#!/usr/bin/env bash
# The test command, from a fresh clone: set up .venv with the dev extras, lint, run the tests.
# Extra arguments go to pytest (e.g. -m slow for the long tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check costmodel tests benchmarks scripts
.venv/bin/ruff format --check costmodel tests benchmarks scripts
# A cache of this run only: nothing a test (or a notebook it runs) does reads or writes ~/.cache.
COSTMODEL_CACHE="$(mktemp -d)"
export COSTMODEL_CACHE
trap 'rm -rf "$COSTMODEL_CACHE"' EXIT
.venv/bin/python -m pytest -q "$@"
