// The op set training adds to ops.h: the forward ops autograd records that inference does not
// need, and the backward of every op a BERT-family model uses. Each is a plain function of
// contiguous F32 tensors, so a GPU backend implements the same list; models/nn/ only wires them
// into a graph. Every op checks shapes and returns INVALID_ARGUMENT naming itself on a mismatch.
//
// Notation: dy is the gradient of the loss with respect to an op's output, dx (da, db, ...) with
// respect to its inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/tensor.h"

namespace trustformers::backends::training {

// ---- Shapes and element-wise ops -------------------------------------------------------------

// The shape both broadcast to under NumPy's rules (align at the end; 1 stretches).
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);
// x repeated along broadcast dimensions to `shape`.
absl::StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& shape);
// The backward of BroadcastTo: dy summed over the dimensions that were broadcast to `shape`.
absl::StatusOr<Tensor> SumToShape(const Tensor& dy, const Shape& shape);

// a + b, a - b, a * b for equal shapes.
absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Sub(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b);
// x * scale + shift.
Tensor Affine(const Tensor& x, float scale, float shift);
// A tensor of `shape` filled with `value`.
Tensor Full(const Shape& shape, float value);
// Sum of every element (accumulated in double). -> []
Tensor SumAll(const Tensor& x);

// Dimensions d0 and d1 swapped, as a contiguous copy.
absl::StatusOr<Tensor> Transpose(const Tensor& x, int d0, int d1);

// ---- Matrix products -------------------------------------------------------------------------

// op(a) op(b), op transposing the last two dimensions when asked.
//   a [..., M, K] (or [..., K, M] with trans_a), b [..., K, N] (or [..., N, K] with trans_b).
// Leading (batch) dimensions must be equal, or b may be rank 2 and shared by every batch.
// -> [..., M, N]
absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool trans_a = false,
                              bool trans_b = false);

struct MatMulGrads {
  Tensor da;  // shape of a
  Tensor db;  // shape of b
};
// The backward of MatMul(a, b) without transposes.
absl::StatusOr<MatMulGrads> MatMulBackward(const Tensor& dy, const Tensor& a, const Tensor& b);

// ---- Embedding -------------------------------------------------------------------------------

// The backward of Gather (ops.h): rows of dy [N, H] added into a zero [rows, H] table at ids
// (repeated ids accumulate).  -> [rows, H]
absl::StatusOr<Tensor> ScatterAddRows(const Tensor& dy, const std::vector<int32_t>& ids,
                                      int64_t rows);

// ---- Activations -----------------------------------------------------------------------------

absl::StatusOr<Tensor> Relu(const Tensor& x);
absl::StatusOr<Tensor> ReluBackward(const Tensor& dy, const Tensor& x);
// x * Phi(x), Phi the normal CDF through erf (BERT's "gelu").
absl::StatusOr<Tensor> Gelu(const Tensor& x);
absl::StatusOr<Tensor> GeluBackward(const Tensor& dy, const Tensor& x);

// Hyperbolic tangent (BERT's pooler).
absl::StatusOr<Tensor> Tanh(const Tensor& x);
// y = Tanh(x): dx = dy * (1 - y^2).
absl::StatusOr<Tensor> TanhBackward(const Tensor& dy, const Tensor& y);

// ---- Normalisation ---------------------------------------------------------------------------

struct LayerNormResult {
  Tensor y;     // [M, H]
  Tensor mean;  // [M]
  Tensor rstd;  // [M] 1 / sqrt(var + epsilon)
};
// Layer norm over the last dimension: x [M, H], gamma, beta [H].
absl::StatusOr<LayerNormResult> LayerNormForward(const Tensor& x, const Tensor& gamma,
                                                 const Tensor& beta, float epsilon);
struct LayerNormGrads {
  Tensor dx;      // [M, H]
  Tensor dgamma;  // [H]
  Tensor dbeta;   // [H]
};
absl::StatusOr<LayerNormGrads> LayerNormBackward(const Tensor& dy, const Tensor& x,
                                                 const Tensor& mean, const Tensor& rstd,
                                                 const Tensor& gamma);

// ---- Softmax and losses ----------------------------------------------------------------------

// Over the last dimension of any rank >= 1.
absl::StatusOr<Tensor> Softmax(const Tensor& x);
// y = Softmax(x): dx = y * (dy - sum(dy * y)).
absl::StatusOr<Tensor> SoftmaxBackward(const Tensor& dy, const Tensor& y);
absl::StatusOr<Tensor> LogSoftmax(const Tensor& x);
// y = LogSoftmax(x): dx = dy - exp(y) * sum(dy).
absl::StatusOr<Tensor> LogSoftmaxBackward(const Tensor& dy, const Tensor& y);

struct CrossEntropyOptions {
  int64_t ignore_index = -100;  // targets equal to it add nothing and are not counted
  float label_smoothing = 0.0f;
};
struct CrossEntropyResult {
  Tensor loss;      // [] mean over counted rows (0 when none is counted)
  Tensor log_prob;  // [N, C], kept for the backward
  int64_t counted = 0;
};
// Mean cross entropy of logits [N, C] against class ids, with PyTorch's label smoothing:
// (1 - s) * nll + s * mean over classes of -log p.
absl::StatusOr<CrossEntropyResult> CrossEntropy(const Tensor& logits,
                                                const std::vector<int64_t>& targets,
                                                const CrossEntropyOptions& options);
// dlogits [N, C] for an upstream gradient dloss of the mean loss.
absl::StatusOr<Tensor> CrossEntropyBackward(float dloss, const CrossEntropyResult& forward,
                                            const std::vector<int64_t>& targets,
                                            const CrossEntropyOptions& options);

}  // namespace trustformers::backends::training
