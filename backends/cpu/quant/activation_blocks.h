// Activations quantized for the integer dot products of the quantized matmul: each weight block
// format is paired with an 8-bit activation format of the same block length, so a block of
// weights and a block of activations meet in one integer dot product and one float scale.
//
//   weights                activations   dot per block
//   Q4_0, Q8_0             Q8_0          d_w * d_a * sum(w * a)
//   Q4_1                   Q8_1          d_w * d_a * sum(q * a) + m_w * s_a
//   Q4_K, Q5_K, Q6_K       Q8_K          per sub-block scales, one float d per 256
//   F32, F16, BF16         F32           plain float dot (no activation rounding)
//
// The pairs, the rounding (to nearest even) and the f16-rounded scales are ggml's, so our logits
// follow llama.cpp's closely (tests/golden/llama/). Unlike weight blocks, activation blocks are
// ours alone and never stored: their scales are floats (holding f16-rounded values) so the inner
// loops need no conversion.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backends/cpu/quant/ggml_blocks.h"

namespace trustformers::backends::cpu {

// Q8_0 activations: 32 values a[i] = d * qs[i].
struct ActBlockQ8_0 {
  float d;
  int8_t qs[kQK];
};

// Q8_1: Q8_0 plus s = d * sum(qs), which carries the weight blocks' offsets (Q4_1's m).
struct ActBlockQ8_1 {
  float d;
  float s;
  int8_t qs[kQK];
};

// Q8_K: 256 activations with a float scale and the sums of each 16, which the K-quants' mins
// multiply.
struct ActBlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(ActBlockQ8_0) == 36 && offsetof(ActBlockQ8_0, qs) == 4);
static_assert(sizeof(ActBlockQ8_1) == 40 && offsetof(ActBlockQ8_1, qs) == 8);
static_assert(sizeof(ActBlockQ8_K) == 292 && offsetof(ActBlockQ8_K, qs) == 4 &&
              offsetof(ActBlockQ8_K, bsums) == 260);

enum class ActivationFormat { kF32, kQ8_0, kQ8_1, kQ8_K };

// The activation format a weight type multiplies with; kF32 for float weights. Only meaningful
// for types CanQuantMatmul accepts.
constexpr ActivationFormat ActivationFormatFor(GgmlBlockType weight_type) {
  switch (weight_type) {
    case GgmlBlockType::kQ4_0:
    case GgmlBlockType::kQ8_0:
      return ActivationFormat::kQ8_0;
    case GgmlBlockType::kQ4_1:
      return ActivationFormat::kQ8_1;
    case GgmlBlockType::kQ4_K:
    case GgmlBlockType::kQ5_K:
    case GgmlBlockType::kQ6_K:
      return ActivationFormat::kQ8_K;
    default:
      return ActivationFormat::kF32;
  }
}

// Weights per activation block.
constexpr int64_t ActivationBlockSize(ActivationFormat format) {
  switch (format) {
    case ActivationFormat::kF32:
      return 1;
    case ActivationFormat::kQ8_0:
    case ActivationFormat::kQ8_1:
      return kQK;
    case ActivationFormat::kQ8_K:
      return kQK_K;
  }
  return 1;
}

// Bytes of one quantized row of k activations (k a multiple of the block size).
constexpr int64_t ActivationRowBytes(ActivationFormat format, int64_t k) {
  switch (format) {
    case ActivationFormat::kF32:
      return k * static_cast<int64_t>(sizeof(float));
    case ActivationFormat::kQ8_0:
      return k / kQK * static_cast<int64_t>(sizeof(ActBlockQ8_0));
    case ActivationFormat::kQ8_1:
      return k / kQK * static_cast<int64_t>(sizeof(ActBlockQ8_1));
    case ActivationFormat::kQ8_K:
      return k / kQK_K * static_cast<int64_t>(sizeof(ActBlockQ8_K));
  }
  return 0;
}

// The weight types the quantized matmul multiplies.
constexpr bool CanQuantMatmul(GgmlBlockType type) { return CanDequantize(type); }

}  // namespace trustformers::backends::cpu
