#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU and the CUDA toolkit (CI has none): builds with
# TF_CUDA=ON and runs every test tagged [cuda] plus `trustformers version`, which must list the
# GPU. Writes logs to $OUT when set (the device tool's result folder), else to build-gpu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-build-gpu}
mkdir -p "$out"
scripts/install-deps.sh > "$out/install.log" 2>&1
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTF_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="80;90" > "$out/configure.log" 2>&1
cmake --build build-gpu --target tf_unit_tests trustformers > "$out/build.log" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
build-gpu/server/trustformers version | tee "$out/version.txt"
grep -q '^device cuda:0' "$out/version.txt"
build-gpu/tests/tf_unit_tests "[cuda]" --success 2>&1 | tee "$out/cuda-tests.log" | tail -3
