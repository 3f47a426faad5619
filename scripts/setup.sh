#!/usr/bin/env bash
# Create .venv with PyTorch's CPU build and costmodel installed in it. Idempotent and quick when
# nothing changed. Usage: bash scripts/setup.sh [EXTRAS]   (e.g. "dev" or "plots")
#
# torch is installed first and pinned (COSTMODEL_TORCH, default torch==2.13.0, a CPU build on
# this project's machines) so that costmodel's own "torch>=2.4" requirement installs nothing
# more; elsewhere set COSTMODEL_TORCH and PIP_INDEX_URL/PIP_EXTRA_INDEX_URL as your site needs.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
torch_spec="${COSTMODEL_TORCH:-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing $torch_spec" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check "$torch_spec"
fi
stamp=".venv/.costmodel-${extras:-base}.stamp"
want="$(cat pyproject.toml | sha1sum | cut -c1-40)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing costmodel${extras:+[$extras]}" >&2
    # torch's spec on the same command line: the runtime extras (executorch) must not replace it
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}" \
        "$(.venv/bin/python -c 'import torch; print("torch==" + torch.__version__)')"
    echo "$want" > "$stamp"
fi
