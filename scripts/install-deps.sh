#!/usr/bin/env bash
# Installs every Debian 12 package that building, serving and testing trustformers needs.
# Idempotent: packages already present are skipped, and the package lists are refreshed only when
# something is missing and apt cannot find it in the lists it has.
#
#   scripts/install-deps.sh            build, test and serve (developers, CI, the image's build stage)
#   scripts/install-deps.sh --runtime  only the shared libraries the binary loads (the image)
set -euo pipefail

BUILD_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git ca-certificates clang-format
  clang libclang-rt-14-dev libomp-14-dev
  python3 python3-venv python3-pip
  # RPC, config, logging, command line
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  # HTTP gateway and TLS
  libboost-dev libssl-dev
  # compute backends
  libdnnl-dev ocl-icd-opencl-dev libvulkan-dev glslc mesa-vulkan-drivers
  # tokenizers, job store
  libsentencepiece-dev libutf8proc-dev libpcre2-dev libsqlite3-dev zlib1g-dev
  # tests and micro-benchmarks
  catch2 libbenchmark-dev
  # benchmarks: HTTP load generator (bench/http_load.py), WordNet glosses (bench/train.py)
  wrk wordnet-base
)

# Keep in step with the libraries `ldd trustformers` lists.
RUNTIME_PACKAGES=(
  ca-certificates libabsl20220623 libc-ares2 libdnnl2 libfmt9 libgomp1 libgrpc++1.51 libgrpc29
  libpcre2-8-0 libprotobuf32 libre2-9 libsentencepiece0 libspdlog1.10 libsqlite3-0 libssl3
  libutf8proc2 libvulkan1 libyaml-cpp0.7 ocl-icd-libopencl1
)

case "${1:-}" in
  "") PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  --runtime) PACKAGES=("${RUNTIME_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

echo "install-deps: installing ${missing[*]}"
# A fresh image ships without package lists; refresh them only when apt cannot see a package.
needs_update=0
for pkg in "${missing[@]}"; do
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then
    needs_update=1
    break
  fi
done
if [ "$needs_update" -eq 1 ]; then
  $SUDO apt-get update -q
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  # Lists can be stale enough that a pinned version vanished from the mirror.
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
