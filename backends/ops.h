// The op set models are written in. Every op checks shapes and types and returns a Status naming
// the op and the shapes on a mismatch (a malformed model file must never reach a kernel with
// wrong sizes); then it runs the fastest kernel this machine has: oneDNN for matrix products, our
// AVX2 kernels for the rest, scalar reference kernels where AVX2 is missing.
//
// Variable-length batches are packed: sequence i occupies rows [offsets[i], offsets[i+1]) of a
// [T, ...] tensor, so no op spends work on padding.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/tensor.h"

namespace trustformers::backends {

// Threads every CPU op (and oneDNN) may use from now on; at least 1. The default is one per
// core. Training in a process of its own sets it from --threads.
void SetCpuThreads(int threads);
int CpuThreads();

// Cores held by training (a fine-tuning job on `threads` threads) while the guard lives, so
// inference and training do not oversubscribe the same cores. Guards add up.
class CpuReservation {
 public:
  explicit CpuReservation(int threads);
  ~CpuReservation();
  CpuReservation(const CpuReservation&) = delete;
  CpuReservation& operator=(const CpuReservation&) = delete;

 private:
  int threads_;
};
// Threads an inference batch may use now: the process's threads less the reserved ones, at
// least 1. Engine threads set it (SetCpuThreads) before each batch.
int InferenceCpuThreads();

// Row ranges of a packed batch: offsets.front() == 0, offsets.back() == T, non-decreasing.
using SequenceOffsets = std::vector<int64_t>;

// y = x W^T + b.  x [M, K] F32, weight [N, K] F32 (the Hugging Face Linear layout), bias [N] or
// undefined.  -> [M, N]
absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// A Linear weight [N, K] (the Hugging Face layout) copied into the [K, N] layout LinearKN takes,
// in which the matrix products run fastest. Done once per weight at load.
absl::StatusOr<Tensor> PrepareLinearWeight(const Tensor& weight);

// y = x W + b with W from PrepareLinearWeight.  x [M, K], w_kn [K, N], bias [N] or undefined.
// -> [M, N]
absl::StatusOr<Tensor> LinearKN(const Tensor& x, const Tensor& w_kn, const Tensor& bias);

// Rows of `table` [V, H] F32 picked by `ids` (each in [0, V)).  -> [ids.size(), H]
absl::StatusOr<Tensor> Gather(const Tensor& table, const std::vector<int32_t>& ids);

// y += x, same shape, F32.
absl::Status AddInPlace(Tensor& y, const Tensor& x);

// LayerNorm(x + residual) over the last dimension with gamma, beta [H]. `residual` may be
// undefined.  x [M, H] -> [M, H]
absl::StatusOr<Tensor> LayerNorm(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                 const Tensor& beta, float epsilon);

// x = x * Phi(x) with the exact error function (BERT's "gelu").
absl::Status GeluInPlace(Tensor& x);
absl::Status TanhInPlace(Tensor& x);
absl::Status SigmoidInPlace(Tensor& x);
// Softmax over the last dimension of a [M, N] tensor.
absl::Status SoftmaxRowsInPlace(Tensor& x);

// Bidirectional multi-head attention within each sequence of a packed batch.
// qkv [T, 3 * heads * head_dim]: per row the query, key and value blocks, each head-major.
// Every token attends to every token of its own sequence.  -> [T, heads * head_dim]
absl::StatusOr<Tensor> PackedSelfAttention(const Tensor& qkv, int heads,
                                           const SequenceOffsets& offsets);

enum class PoolingMode { kMean, kFirst, kMax, kLast };
// One row per sequence of a packed [T, H] batch.  -> [B, H]
absl::StatusOr<Tensor> Pool(const Tensor& x, const SequenceOffsets& offsets, PoolingMode mode);

// Each row scaled to unit L2 norm (rows of zeros stay zero).
absl::Status L2NormalizeRowsInPlace(Tensor& x);

// Concatenates F32 tensors along dimension 0 (for fusing weights at load time).
absl::StatusOr<Tensor> ConcatRows(const std::vector<Tensor>& parts);

// Which kernels run: "avx2" or "reference".
const char* ActiveCpuKernels();
// Forces the reference kernels (tests compare both paths on the same machine).
void UseReferenceCpuKernels(bool reference);

}  // namespace trustformers::backends
