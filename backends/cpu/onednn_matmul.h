// Float matrix products through oneDNN. Primitives are keyed by the weight shape (K, N) and
// whether there is a bias, with the row count M left as a run-time dimension, so one primitive
// serves every batch size and is created once per layer shape, then reused from any thread.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace trustformers::backends::cpu {

// How a weight matrix is stored: [N, K] as Hugging Face saves Linear weights, or [K, N].
enum class WeightLayout { kNK, kKN };

// y[M, N] = x[M, K] * W (+ bias[N] when not null), W stored as `layout` says.
absl::Status OneDnnLinear(const float* x, int64_t m, int64_t k, const float* w, int64_t n,
                          const float* bias, float* y, WeightLayout layout = WeightLayout::kNK);

// y[M, N] = a^T * W with a stored [K, M] (a weight gradient: dy^T x), W stored as `layout` says.
// The transpose is read through strides, never copied. Primitives are keyed by (M, K, N).
absl::Status OneDnnMatMulTransA(const float* a_km, int64_t m, int64_t k, const float* w, int64_t n,
                                float* y, WeightLayout layout = WeightLayout::kKN);

// y[b] = op(a[b]) op(b[b]) for `batch` equal-sized products in one call (attention's per-head
// products): a is [batch, M, K] (stored [batch, K, M] with trans_a), b is [batch, K, N] (stored
// [batch, N, K] with trans_b), y is [batch, M, N]. Transposes are read through strides.
absl::Status OneDnnBatchedMatMul(const float* a, const float* b, int64_t batch, int64_t m,
                                 int64_t k, int64_t n, bool trans_a, bool trans_b, float* y);

// Number of distinct primitives created so far (tests check reuse).
int64_t OneDnnPrimitiveCount();

}  // namespace trustformers::backends::cpu
