#!/usr/bin/env bash
# `make bench`: runs every side-by-side benchmark and rewrites its table in BENCHMARKS.md.
# Peers that a benchmark compares against are installed into the build's virtualenv here, never
# by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
"$build/venv/bin/python" bench/grpc_overhead.py --build "$build" --markdown BENCHMARKS.md
scripts/setup-ref-venv.sh
"$build/venv/bin/python" bench/embed.py --build "$build" --markdown BENCHMARKS.md
