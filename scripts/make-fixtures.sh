#!/usr/bin/env bash
# `make fixtures`: regenerates every committed reference fixture under tests/golden/ with the
# script beside it, run by the reference virtualenv (PyTorch, transformers, tokenizers; outside
# the source tree). The scripts are deterministic: unchanged references give unchanged files.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TRUSTFORMERS_REF_VENV:-$HOME/.cache/trustformers/ref-venv}
scripts/setup-ref-venv.sh "$venv"
for script in tests/golden/*/make_fixtures.py; do
  echo "make-fixtures: $script"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" "$script"
done
git status --short tests/golden
