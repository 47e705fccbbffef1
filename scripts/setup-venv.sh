#!/usr/bin/env bash
# Creates or refreshes the test virtualenv ($1, default build/venv) from tests/requirements.txt.
# Does nothing when the installed set already matches the requirements file.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/venv}
requirements=tests/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# Debian's interpreter when present, so every machine builds the venv from the same Python.
python=python3
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; fi
if [ ! -x "$venv/bin/python" ]; then
  echo "setup-venv: creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "setup-venv: $venv ready"
