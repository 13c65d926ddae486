#!/usr/bin/env bash
# Create .venv and install Sparklio Desktop with everything its tests need.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first and pinned: an unpinned torch (or one pulled in by diffusers/accelerate)
# resolves to a multi-GB CUDA build. On a GPU workstation install the CUDA build you want
# before running this script; the pin below is then already satisfied.
python -c "import torch" 2>/dev/null || python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[local,test]"
