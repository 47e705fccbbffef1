#!/usr/bin/env bash
# Builds tests/fuzz/gguf_fuzzer.cc with clang's libFuzzer, AddressSanitizer and UBSan, and fuzzes
# the GGUF reader for a fixed time from the seeds make_seeds.py writes. Exit status non-zero on
# any crash, leak or sanitizer report. Usage: run_gguf_fuzzer.sh BUILD_DIR SECONDS
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
seconds=${2:-30}
work="$build/fuzz"
mkdir -p "$work/corpus"
python3 "$src/tests/fuzz/make_seeds.py" "$work/seeds"
sources=(models/loader/gguf.cc models/loader/mapped_file.cc models/loader/gguf_tokenizer.cc
         models/loader/json_file.cc models/loader/safetensors.cc models/loader/shard_index.cc
         models/llama/llama_config.cc models/llama/llama_model.cc models/kv_cache.cc
         models/decoder_model.cc
         backends/cpu/quant/quant_matmul.cc backends/cpu/quant/quant_kernels_reference.cc
         backends/cpu/quant/quant_kernels_avx2.cc backends/cpu/quant/quant_kernels_vnni.cc
         backends/cpu/quant/dequantize.cc
         backends/cpu/decoder_ops.cc backends/cpu/decoder_kernels_avx2.cc backends/tensor.cc
         backends/dtype.cc)
# No libprotobuf here to clash with: the SentencePiece shim is linked directly, not embedded.
tokenizer_sources=$(cd "$src" && ls tokenizers/*.cc tokenizers/jinja/*.cc \
                    tokenizers/sentencepiece_shim/sentencepiece_shim.cc)
# The AVX2 kernel files are compiled in (the kernels are chosen at run time as in the server).
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fopenmp -mavx2 -mfma -mf16c -I"$src")
compiler="clang++"
command -v ccache >/dev/null && compiler="ccache clang++"
# One object per source so ccache can reuse them; two at a time.
mkdir -p "$work/obj"
objects=()
pairs=()
for file in tests/fuzz/gguf_fuzzer.cc "${sources[@]}" $tokenizer_sources; do
  objects+=("$work/obj/${file//\//_}.o")
  pairs+=("$src/$file" "$work/obj/${file//\//_}.o")
done
printf '%s\n' "${pairs[@]}" | xargs -P 2 -n 2 sh -c "$compiler ${flags[*]} $(pkg-config --cflags libutf8proc libpcre2-8) -c \"\$0\" -o \"\$1\""
# shellcheck disable=SC2046
clang++ "${flags[@]}" "${objects[@]}" $(pkg-config --libs libutf8proc libpcre2-8) -lsentencepiece \
  -labsl_status -labsl_statusor -labsl_strings -labsl_str_format_internal -labsl_int128 \
  -labsl_raw_logging_internal -labsl_cord -labsl_cordz_info -labsl_cord_internal \
  -labsl_cordz_functions -labsl_cordz_handle -labsl_exponential_biased -labsl_synchronization \
  -labsl_graphcycles_internal -labsl_stacktrace -labsl_symbolize -labsl_malloc_internal \
  -labsl_debugging_internal -labsl_demangle_internal -labsl_time -labsl_time_zone \
  -labsl_base -labsl_spinlock_wait -labsl_throw_delegate -labsl_strings_internal \
  -labsl_hash -labsl_city -labsl_low_level_hash -labsl_raw_hash_set \
  -o "$work/gguf_fuzzer"
ASAN_OPTIONS=detect_leaks=1 "$work/gguf_fuzzer" -max_total_time="$seconds" -max_len=65536 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work/corpus" "$work/seeds"
