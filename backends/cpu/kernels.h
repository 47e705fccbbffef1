// For backend authors: the CPU kernel table. Two implementations fill it: kernels_reference.cc
// (plain scalar C++, the parity tests' oracle and the fallback for CPUs without AVX2) and
// kernels_avx2.cc (compiled with -mavx2 -mfma, chosen at run time when the CPU has both).
// Kernels assume validated, contiguous F32 inputs; ops.cc checks before calling.
#pragma once

#include <cstdint>

namespace trustformers::backends::cpu {

struct KernelTable {
  const char* name;
  // out[r] = LayerNorm(x[r] + residual[r]) for rows of width h; residual may be null.
  void (*layer_norm)(const float* x, const float* residual, const float* gamma, const float* beta,
                     float epsilon, int64_t rows, int64_t h, float* out);
  void (*gelu)(float* x, int64_t n);
  // dx = dy * GELU'(x) = dy * (Phi(x) + x phi(x)), the backward of the erf GELU.
  void (*gelu_backward)(const float* dy, const float* x, float* dx, int64_t n);
  void (*tanh)(float* x, int64_t n);
  void (*sigmoid)(float* x, int64_t n);
  void (*softmax_rows)(float* x, int64_t rows, int64_t n);
  // One head of attention over one sequence of `len` rows: q, k and v point at the head's first
  // column in row 0, rows `stride` floats apart. Writes `len` rows of head_dim floats at out
  // (rows out_stride apart). `scores` is scratch for `len` floats.
  void (*attention_head)(const float* q, const float* k, const float* v, int64_t stride,
                         int64_t len, int64_t head_dim, float scale, float* out, int64_t out_stride,
                         float* scores);
  void (*l2_normalize_rows)(float* x, int64_t rows, int64_t n);
  // y[m, n_begin:n_end] = x[m, k] * w[n_begin:n_end, k]^T (+ bias) for few rows m: weights are
  // read once, in their stored [N, K] layout, with no packing (the cost that dominates a
  // general GEMM when m is small). Rows of y are `n` floats apart.
  void (*linear_few_rows)(const float* x, int64_t m, int64_t k, const float* w, const float* bias,
                          int64_t n, int64_t n_begin, int64_t n_end, float* y);
  // The same with the weights stored [K, N] (w_kn), columns [n_begin, n_end) of y.
  void (*linear_few_rows_kn)(const float* x, int64_t m, int64_t k, const float* w_kn,
                             const float* bias, int64_t n, int64_t n_begin, int64_t n_end,
                             float* y);
};

const KernelTable& ReferenceKernels();
// The table ops run with: AVX2 where the CPU has it (and tests do not force the reference).
const KernelTable& ActiveKernels();
// nullptr when the build has no AVX2 kernels.
const KernelTable* Avx2Kernels();

}  // namespace trustformers::backends::cpu
