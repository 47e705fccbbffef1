#!/usr/bin/env bash
# Fails when the binary loads a shared library whose Debian package is missing from
# scripts/install-deps.sh --runtime, the list the container image installs. Libraries of the
# base system (libc, libstdc++, libgcc, zlib) and the CUDA toolkit's own are exempt: the image
# has the former and is built without CUDA.
set -euo pipefail
# Every binary given: the server, and the SentencePiece shim it embeds and loads at run time.
binaries=("$@")
root=$(cd "$(dirname "$0")/../.." && pwd)
listed=$(sed -n '/^RUNTIME_PACKAGES=(/,/^)/p' "$root/scripts/install-deps.sh" | tr -s ' \n' '\n')
missing=()
while read -r lib; do
  [ -n "$lib" ] || continue
  case "$lib" in /usr/local/cuda*) continue ;; esac
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || true
  case "$pkg" in
    "" | libc6 | libstdc++6 | libgcc-s1 | zlib1g) continue ;;
  esac
  grep -qx "$pkg" <<<"$listed" || missing+=("$pkg ($lib)")
done < <(for binary in "${binaries[@]}"; do ldd "$binary"; done | awk '/=>/ {print $3}' | sort -u)
if [ ${#missing[@]} -gt 0 ]; then
  printf 'not in RUNTIME_PACKAGES of scripts/install-deps.sh:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "runtime packages cover every library that ${binaries[*]##*/} load"
