// Reference dequantization of GGUF block formats to float: plain scalar C++, written to be read
// next to the layouts in ggml_blocks.h. It is the oracle that the fast (AVX2) quantized kernels
// are tested against, and it equals gguf-py's numpy dequantization bit for bit
// (tests/golden/quant/).
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "backends/cpu/quant/ggml_blocks.h"

namespace trustformers::backends::cpu {

// Writes the `count` weights held by `blocks` to out[0 .. count). `count` must be a non-negative
// multiple of BlockSize(type) and `blocks` exactly count / BlockSize(type) * BytesPerBlock(type)
// bytes; INVALID_ARGUMENT otherwise, or for a type not in GgmlBlockType. `blocks` needs no
// alignment. F32 is copied bit for bit; F16 and BF16 convert exactly (NaN payloads kept).
absl::Status Dequantize(GgmlBlockType type, std::span<const uint8_t> blocks, int64_t count,
                        float* out);

}  // namespace trustformers::backends::cpu
