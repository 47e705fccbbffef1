// Matrix products with weights kept in their GGUF block format: y = x * W^T for W stored [N, K]
// (a linear layer's weight as GGUF lays it out, one row of blocks per output feature). The
// activations are quantized once per call to the weight type's 8-bit partner format
// (activation_blocks.h) and the products are integer dot products; no weight is converted to
// float on this path. Decoding one token is a matrix-vector product (m = 1); prefill and batched
// decoding multiply many rows at once, each weight block unpacked once for up to four rows.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "backends/cpu/quant/activation_blocks.h"

namespace trustformers::backends::cpu {

// A weight matrix borrowed from a GGUF mapping (or any buffer that outlives it).
struct QuantMatrix {
  GgmlBlockType type = GgmlBlockType::kF32;
  int64_t rows = 0;  // N, output features
  int64_t cols = 0;  // K, input features; a multiple of the type's block size
  const uint8_t* data = nullptr;

  int64_t row_bytes() const { return cols / BlockSize(type) * BytesPerBlock(type); }
  ActivationFormat activation_format() const { return ActivationFormatFor(type); }
};

// INVALID_ARGUMENT unless `w` is a matrix the matmul can use (known type, cols a multiple of the
// block size and of the activation block size, data present).
absl::Status CheckQuantMatrix(const QuantMatrix& w);

// m rows of k floats (rows `ldx` floats apart) quantized for weights of `format`, into `out`
// (resized to m * ActivationRowBytes(format, k)). k must be a multiple of the block size.
absl::Status QuantizeActivations(const float* x, int64_t m, int64_t k, int64_t ldx,
                                 ActivationFormat format, std::vector<uint8_t>* out);

// y[i, n] = sum_k x[i, k] * W[n, k] for the m rows quantized by QuantizeActivations with
// w.activation_format(); rows of y are `ldy` floats apart. Uses the OpenMP team.
absl::Status QuantMatmul(const QuantMatrix& w, const std::vector<uint8_t>& activations, int64_t m,
                         float* y, int64_t ldy);

// Several products of the same quantized activations (q, k and v; gate and up) in one parallel
// region: one fork/join instead of one per product, and the work split across all of them.
// Every weight must take w.activation_format() of the first.
struct QuantProduct {
  const QuantMatrix* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};
absl::Status QuantMatmulMany(std::span<const QuantProduct> products,
                             const std::vector<uint8_t>& activations, int64_t m);

// Both steps; `scratch` holds the quantized activations between calls.
absl::Status QuantLinear(const float* x, int64_t m, int64_t ldx, const QuantMatrix& w, float* y,
                         int64_t ldy, std::vector<uint8_t>* scratch);

// "avx2+vnni", "avx2" or "reference": which kernels QuantMatmul runs (the best this CPU has,
// unless a test chose).
const char* ActiveQuantKernels();
// Tests: run the named kernels (false when this CPU lacks them), or the best ones for "".
bool UseQuantKernels(std::string_view name);
// Tests: force the scalar kernels (true) or go back to the best available (false).
void UseReferenceQuantKernels(bool reference);

}  // namespace trustformers::backends::cpu
