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

// Number of distinct primitives created so far (tests check reuse).
int64_t OneDnnPrimitiveCount();

}  // namespace trustformers::backends::cpu
