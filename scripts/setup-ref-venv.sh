#!/usr/bin/env bash
# Creates or refreshes the reference virtualenv that regenerates the golden fixtures under
# tests/golden/ (torch, transformers, sentence-transformers, ...) from
# tests/golden/requirements-ref.txt. It lives outside the source tree, in
# ${TRUSTFORMERS_REF_VENV:-$HOME/.cache/trustformers/ref-venv} (or $1), because torch is large and
# neither the build nor CI needs it. Does nothing when the installed set already matches the
# requirements file. An existing venv is only installed into, never deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-${TRUSTFORMERS_REF_VENV:-$HOME/.cache/trustformers/ref-venv}}
requirements=tests/golden/requirements-ref.txt
stamp="$venv/.requirements-ref.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# Debian's interpreter when present, so every machine builds the venv from the same Python.
python=python3
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; fi
if [ ! -x "$venv/bin/python" ]; then
  echo "setup-ref-venv: creating $venv with $($python --version)"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "setup-ref-venv: $venv ready"
