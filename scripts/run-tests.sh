#!/usr/bin/env bash
# Runs every test registered with CTest in the build folder ($1, default build): Catch2 unit tests,
# the end-to-end tests that start the real server, and the lint checks. CTest prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ctest --test-dir "$build" --output-on-failure --timeout 600 -j "$(nproc)"
