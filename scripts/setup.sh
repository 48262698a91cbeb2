#!/usr/bin/env bash
# Sets up ./.venv with evotui, its training extra (torch, transformers, accelerate) and its test
# tools. Safe to run again: it only installs what is missing.
# Torch goes in first as the pinned CPU wheel when the venv has none, because a bare `torch`
# requirement would otherwise pull a multi-GB CUDA build (the package itself accepts torch>=2.2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
if ! python -c "import torch" >/dev/null 2>&1; then
    echo "Installing the CPU build of torch ..."
    python -m pip install --quiet --disable-pip-version-check "torch==${EVOTUI_TORCH_VERSION:-2.13.0}"
fi
python -m pip install --quiet --disable-pip-version-check -e ".[train,test]"
