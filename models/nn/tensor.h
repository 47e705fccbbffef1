// nn::Tensor: the training core's tensor handle, with the concepts of PyTorch. A handle shares
// its storage (copying a Tensor copies the handle, not the data). While grad mode is on, an op
// whose inputs require gradients records itself on its output, so `backward()` on a scalar loss
// walks the recorded graph and accumulates gradients on the leaves that require them
// (parameters). `NoGradGuard` turns recording off for a scope (inference, optimizer updates).
//
// Method names follow PyTorch (from_vec, zeros, randn, backward, grad, zero_grad) rather than the
// house CamelCase, so code ported from Python reads the same.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/tensor.h"
#include "models/nn/generator.h"

namespace trustformers::nn {

using Shape = backends::Shape;

namespace internal {
struct Node;
struct TensorImpl;
}  // namespace internal

class Tensor {
 public:
  Tensor() = default;

  // F32 tensor holding `values`; INVALID_ARGUMENT when the count does not match the shape.
  static absl::StatusOr<Tensor> from_vec(const std::vector<float>& values, Shape shape,
                                         bool requires_grad = false);
  static Tensor zeros(Shape shape, bool requires_grad = false);
  static Tensor ones(Shape shape, bool requires_grad = false);
  static Tensor full(Shape shape, float value, bool requires_grad = false);
  // Normal(0, std) draws from `generator`, in row-major order.
  static Tensor randn(Shape shape, Generator& generator, float std = 1.0f,
                      bool requires_grad = false);
  // Uniform in [low, high).
  static Tensor rand_uniform(Shape shape, Generator& generator, float low, float high,
                             bool requires_grad = false);
  // A copy of a backend tensor as contiguous F32 (F32, F16 and BF16 sources; e.g. a memory-mapped
  // weight), so training never writes into the source.
  static absl::StatusOr<Tensor> from_backend(const backends::Tensor& value,
                                             bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int rank() const { return static_cast<int>(shape().size()); }
  // Size of dimension i; negative counts from the end.
  int64_t dim(int i) const;
  int64_t numel() const;
  // The data: contiguous F32.
  const backends::Tensor& value() const;
  const float* data() const;
  std::vector<float> to_vec() const;
  // The single value of a one-element tensor.
  absl::StatusOr<float> item() const;
  std::string Describe() const;

  bool requires_grad() const;
  // Makes a leaf require gradients (or not); FAILED_PRECONDITION on a tensor an op produced.
  absl::Status set_requires_grad(bool requires_grad);
  bool is_leaf() const;
  // The name of the op that produced this tensor ("" for leaves).
  std::string grad_fn_name() const;

  // Back-propagates from this one-element tensor; gradients add to the leaves' grad().
  // INVALID_ARGUMENT when this is not a scalar, FAILED_PRECONDITION when it does not require
  // gradients (nothing recorded it).
  absl::Status backward() const;
  // The accumulated gradient of a leaf (undefined before any backward reached it).
  Tensor grad() const;
  void zero_grad() const;
  // Same storage, no history, no gradient.
  Tensor detach() const;

  // For optimizers and initialisers: the leaf's data and gradient, writable in place. Changing
  // data an op recorded for its backward changes that backward (as in PyTorch); do it only under
  // NoGradGuard between steps.
  float* mutable_data() const;
  float* mutable_grad() const;  // null when there is no gradient yet

  // Identity of the underlying storage handle (optimizer state is keyed by it).
  const void* id() const { return impl_.get(); }

 private:
  friend Tensor MakeResult(
      backends::Tensor value, std::string name, const std::vector<Tensor>& inputs,
      std::function<absl::StatusOr<std::vector<backends::Tensor>>(const backends::Tensor& dy)>
          backward);
  explicit Tensor(std::shared_ptr<internal::TensorImpl> impl) : impl_(std::move(impl)) {}
  static Tensor Wrap(backends::Tensor value, bool requires_grad);

  std::shared_ptr<internal::TensorImpl> impl_;
};

// The gradient function of a recorded op: from dy (the gradient of its output) to the gradient
// of each input, in order (an undefined tensor where an input needs none).
using BackwardFn =
    std::function<absl::StatusOr<std::vector<backends::Tensor>>(const backends::Tensor& dy)>;

// For op authors: the op's result, recorded with `backward` when grad mode is on and some input
// requires gradients. `backward` may capture what it needs (inputs' values, saved statistics).
Tensor MakeResult(backends::Tensor value, std::string name, const std::vector<Tensor>& inputs,
                  BackwardFn backward);

// Whether ops record themselves now (per thread; on by default).
bool GradEnabled();

// Turns recording off until the end of the scope (per thread), then restores the previous mode.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace trustformers::nn
