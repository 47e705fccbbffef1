#!/usr/bin/env bash
# `make bench`: runs every side-by-side benchmark and rewrites its table in BENCHMARKS.md.
# The peers it compares against (PyTorch, ONNX Runtime, a Starlette/uvicorn server,
# llama-cpp-python) live in the reference virtualenv outside the source tree, installed here by
# scripts/setup-ref-venv.sh, never by `make test`. bench/http_load.py also needs wrk (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
"$build/venv/bin/python" bench/grpc_overhead.py --build "$build" --markdown BENCHMARKS.md
scripts/setup-ref-venv.sh
"$build/venv/bin/python" bench/http_load.py --build "$build" --markdown BENCHMARKS.md
"$build/venv/bin/python" bench/embed.py --build "$build" --markdown BENCHMARKS.md
"$build/venv/bin/python" bench/generate.py --build "$build" --markdown BENCHMARKS.md
"$build/venv/bin/python" bench/batching.py --build "$build" --markdown BENCHMARKS.md
"$build/venv/bin/python" bench/train.py --build "$build" --markdown BENCHMARKS.md
"$build/venv/bin/python" bench/serve_while_training.py --build "$build" --markdown BENCHMARKS.md
