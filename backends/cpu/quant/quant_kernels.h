// For backend authors: the quantized matmul's kernel table. quant_kernels_reference.cc (scalar,
// integer-exact, the oracle) and quant_kernels_avx2.cc (AVX2 + FMA + F16C) fill it;
// quant_matmul.cc chooses at run time and splits the work across threads.
#pragma once

#include <cstdint>

#include "backends/cpu/quant/activation_blocks.h"

namespace trustformers::backends::cpu {

// Dot products of one weight row (k weights in its block format, `w`) with `m` (1 to
// kQuantTileRows) activation rows in the paired format, `a_stride` bytes apart:
// out[i * out_stride] = dot(w, a + i * a_stride). Taking several activation rows lets a kernel
// unpack each weight block once for all of them.
inline constexpr int kQuantTileRows = 4;
using QuantDotFn = void (*)(const uint8_t* w, const uint8_t* a, int64_t a_stride, int m, int64_t k,
                            float* out, int64_t out_stride);

// Quantizes one row of k floats (k a multiple of the block size) into `out`.
using QuantizeRowFn = void (*)(const float* x, int64_t k, uint8_t* out);

struct QuantKernelTable {
  const char* name;
  QuantizeRowFn quantize_q8_0;
  QuantizeRowFn quantize_q8_1;
  QuantizeRowFn quantize_q8_k;
  QuantDotFn dot_f32;
  QuantDotFn dot_f16;
  QuantDotFn dot_bf16;
  QuantDotFn dot_q4_0;
  QuantDotFn dot_q4_1;
  QuantDotFn dot_q8_0;
  QuantDotFn dot_q4_k;
  QuantDotFn dot_q5_k;
  QuantDotFn dot_q6_k;
};

const QuantKernelTable& ReferenceQuantKernels();
// nullptr when the build has no AVX2 kernels.
const QuantKernelTable* Avx2QuantKernels();
// The AVX2 kernels with AVX-512 VNNI dot products (256-bit): the same results, fewer
// instructions.
const QuantKernelTable* Avx512VnniQuantKernels();

}  // namespace trustformers::backends::cpu
