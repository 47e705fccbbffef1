// The differentiable ops of the training core, as free functions in PyTorch's vocabulary. Each
// computes its result with a backend op (backends/ops.h, backends/training_ops.h) and records the
// matching backend backward; shape errors are INVALID_ARGUMENT naming the op.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/training_ops.h"
#include "models/nn/generator.h"
#include "models/nn/tensor.h"

namespace trustformers::nn {

// ---- Element-wise, with NumPy broadcasting -------------------------------------------------
absl::StatusOr<Tensor> add(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> sub(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> mul(const Tensor& a, const Tensor& b);
// x * scale + shift with constants.
Tensor affine(const Tensor& x, float scale, float shift);
inline Tensor mul(const Tensor& x, float scale) { return affine(x, scale, 0.0f); }
inline Tensor add(const Tensor& x, float shift) { return affine(x, 1.0f, shift); }
absl::StatusOr<Tensor> broadcast_to(const Tensor& x, const Shape& shape);

// ---- Shapes --------------------------------------------------------------------------------
// One dimension may be -1 (inferred).
absl::StatusOr<Tensor> reshape(const Tensor& x, Shape shape);
absl::StatusOr<Tensor> transpose(const Tensor& x, int d0, int d1);
// Rows of x [V, ...] picked by ids (index_select on dimension 0; an embedding lookup).
// Backward scatter-adds into the picked rows.  -> [ids.size(), ...]
absl::StatusOr<Tensor> index(const Tensor& x, const std::vector<int64_t>& ids);
// The inverse of index for distinct positions: rows of x [N, ...] placed at `positions` of a
// zero tensor [rows, ...] (unpacking a packed batch into its padded layout). INVALID_ARGUMENT for
// a position outside [0, rows).  -> [rows, ...]
absl::StatusOr<Tensor> scatter_rows(const Tensor& x, const std::vector<int64_t>& positions,
                                    int64_t rows);
// Equal-shaped tensors stacked along a new leading dimension.  -> [n, ...]
absl::StatusOr<Tensor> stack(const std::vector<Tensor>& parts);

// ---- Products --------------------------------------------------------------------------------
// a [..., M, K] x b [..., K, N] (b may be [K, N], shared by every batch).  -> [..., M, N]
absl::StatusOr<Tensor> matmul(const Tensor& a, const Tensor& b);
// x [..., K] W^T + b with weight [N, K] (PyTorch's layout) and bias [N] or undefined.
absl::StatusOr<Tensor> linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- Activations and normalisation --------------------------------------------------------
absl::StatusOr<Tensor> relu(const Tensor& x);
// Exact (erf) GELU, as BERT uses.
absl::StatusOr<Tensor> gelu(const Tensor& x);
absl::StatusOr<Tensor> tanh(const Tensor& x);
// Over the last dimension.
absl::StatusOr<Tensor> softmax(const Tensor& x);
absl::StatusOr<Tensor> log_softmax(const Tensor& x);
// Over the last dimension, with weight and bias of its size.
absl::StatusOr<Tensor> layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  float epsilon = 1e-5f);
// Zeroes each element with probability p and scales the rest by 1 / (1 - p); the mask comes
// from one draw of `generator` (seeding a stream per chunk of elements, filled in parallel).
// The identity when !training or p == 0. INVALID_ARGUMENT unless 0 <= p < 1.
absl::StatusOr<Tensor> dropout(const Tensor& x, float p, bool training, Generator& generator);

// Attention of queries q [..., Tq, D] over keys k [..., Tk, D] and values v [..., Tk, Dv]:
// softmax(q k^T * scale + mask) v. `mask` (undefined for none) is added to the scores and
// broadcasts to [..., Tq, Tk]: 0 where attending is allowed, a large negative value elsewhere.
// Composed of recorded ops, so it differentiates through all of them.  -> [..., Tq, Dv]
absl::StatusOr<Tensor> attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask, float scale);
// The additive mask for padded keys: [B, 1, 1, T] holding 0 where keep[b][t], else -1e9
// (a constant; it needs no gradient).
absl::StatusOr<Tensor> padding_mask(const std::vector<std::vector<bool>>& keep);

// ---- Reductions and losses ------------------------------------------------------------------
Tensor sum(const Tensor& x);   // -> []
Tensor mean(const Tensor& x);  // -> []
// Mean cross entropy of logits [N, C] against class ids (see training::CrossEntropyOptions).
absl::StatusOr<Tensor> cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets,
                                     const backends::training::CrossEntropyOptions& options = {});
// Mean squared error of equal shapes.  -> []
absl::StatusOr<Tensor> mse_loss(const Tensor& prediction, const Tensor& target);

}  // namespace trustformers::nn
