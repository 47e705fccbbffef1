#include "models/nn/tensor.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/training_ops.h"

namespace trustformers::nn {
namespace internal {

struct TensorImpl {
  backends::Tensor value;
  backends::Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

struct Node {
  std::string name;
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  BackwardFn backward;
};

}  // namespace internal

namespace {

thread_local bool grad_enabled = true;

using internal::TensorImpl;

// g1 + g2 as a new tensor (gradients may share storage with tensors saved elsewhere, so nothing
// is accumulated in place except a leaf's own grad buffer).
absl::StatusOr<backends::Tensor> Accumulate(const backends::Tensor& sum,
                                            const backends::Tensor& g) {
  if (!sum.defined()) return g;
  return backends::training::Add(sum, g);
}

}  // namespace

bool GradEnabled() { return grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

Tensor Tensor::Wrap(backends::Tensor value, bool requires_grad) {
  auto impl = std::make_shared<TensorImpl>();
  impl->value = std::move(value);
  impl->requires_grad = requires_grad;
  return Tensor(std::move(impl));
}

absl::StatusOr<Tensor> Tensor::from_vec(const std::vector<float>& values, Shape shape,
                                        bool requires_grad) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("from_vec: negative dimension in ", backends::ShapeString(shape)));
    }
    count *= d;
  }
  if (count != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "from_vec: ", values.size(), " values do not fill shape ", backends::ShapeString(shape)));
  }
  return Wrap(backends::Tensor::FromVector(values, std::move(shape)), requires_grad);
}

Tensor Tensor::zeros(Shape shape, bool requires_grad) {
  return full(std::move(shape), 0.0f, requires_grad);
}
Tensor Tensor::ones(Shape shape, bool requires_grad) {
  return full(std::move(shape), 1.0f, requires_grad);
}

Tensor Tensor::full(Shape shape, float value, bool requires_grad) {
  for (int64_t& d : shape) d = std::max<int64_t>(d, 0);
  return Wrap(backends::training::Full(shape, value), requires_grad);
}

Tensor Tensor::randn(Shape shape, Generator& generator, float std, bool requires_grad) {
  Tensor t = zeros(std::move(shape), requires_grad);
  float* d = t.mutable_data();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<float>(generator.Normal()) * std;
  return t;
}

Tensor Tensor::rand_uniform(Shape shape, Generator& generator, float low, float high,
                            bool requires_grad) {
  Tensor t = zeros(std::move(shape), requires_grad);
  float* d = t.mutable_data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    d[i] = low + static_cast<float>(generator.Uniform()) * (high - low);
  }
  return t;
}

absl::StatusOr<Tensor> Tensor::from_backend(const backends::Tensor& value, bool requires_grad) {
  if (!value.defined()) return absl::InvalidArgumentError("from_backend: undefined tensor");
  absl::StatusOr<backends::Tensor> f32 = value.ToF32();  // always a fresh, owned copy
  if (!f32.ok()) return f32.status();
  return Wrap(*std::move(f32), requires_grad);
}

const Shape& Tensor::shape() const {
  static const Shape kEmpty;
  return impl_ ? impl_->value.shape() : kEmpty;
}
int64_t Tensor::dim(int i) const { return impl_->value.dim(i); }
int64_t Tensor::numel() const { return impl_ ? impl_->value.element_count() : 0; }
const backends::Tensor& Tensor::value() const { return impl_->value; }
const float* Tensor::data() const { return impl_->value.data<float>(); }

std::vector<float> Tensor::to_vec() const {
  if (!impl_) return {};
  const float* d = data();
  return std::vector<float>(d, d + numel());
}

absl::StatusOr<float> Tensor::item() const {
  if (numel() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("item: ", Describe(), " is not one value"));
  }
  return data()[0];
}

std::string Tensor::Describe() const { return impl_ ? impl_->value.Describe() : "undefined"; }

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

absl::Status Tensor::set_requires_grad(bool requires_grad) {
  if (!impl_) return absl::FailedPreconditionError("set_requires_grad: undefined tensor");
  if (impl_->grad_fn) {
    return absl::FailedPreconditionError(
        "set_requires_grad: only leaves can change; use detach() for a tensor an op produced");
  }
  impl_->requires_grad = requires_grad;
  return absl::OkStatus();
}

bool Tensor::is_leaf() const { return impl_ && !impl_->grad_fn; }
std::string Tensor::grad_fn_name() const {
  return impl_ && impl_->grad_fn ? impl_->grad_fn->name : "";
}

Tensor Tensor::grad() const {
  if (!impl_ || !impl_->grad.defined()) return Tensor();
  return Wrap(impl_->grad, false);
}

void Tensor::zero_grad() const {
  if (impl_) impl_->grad = backends::Tensor();
}

Tensor Tensor::detach() const {
  if (!impl_) return Tensor();
  return Wrap(impl_->value, false);
}

float* Tensor::mutable_data() const { return impl_->value.data<float>(); }
float* Tensor::mutable_grad() const {
  return impl_ && impl_->grad.defined() ? impl_->grad.data<float>() : nullptr;
}

Tensor MakeResult(backends::Tensor value, std::string name, const std::vector<Tensor>& inputs,
                  BackwardFn backward) {
  bool needs = false;
  if (grad_enabled) {
    for (const Tensor& in : inputs) needs = needs || in.requires_grad();
  }
  Tensor out = Tensor::Wrap(std::move(value), needs);
  if (needs) {
    auto node = std::make_shared<internal::Node>();
    node->name = std::move(name);
    for (const Tensor& in : inputs) node->inputs.push_back(in.impl_);
    node->backward = std::move(backward);
    out.impl_->grad_fn = std::move(node);
  }
  return out;
}

absl::Status Tensor::backward() const {
  if (!impl_ || numel() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("backward: needs a one-element loss, got ", Describe()));
  }
  if (!impl_->requires_grad) {
    return absl::FailedPreconditionError(
        "backward: the tensor does not require gradients (no recorded op leads to it)");
  }
  // Order the graph so each tensor comes after every tensor that consumes it (reverse post-order
  // of an iterative depth-first walk).
  std::vector<TensorImpl*> order;
  std::unordered_set<TensorImpl*> seen{impl_.get()};
  std::vector<std::pair<TensorImpl*, size_t>> stack{{impl_.get(), 0}};
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    const auto* node = t->grad_fn.get();
    if (node != nullptr && next < node->inputs.size()) {
      TensorImpl* in = node->inputs[next++].get();
      if (in->requires_grad && seen.insert(in).second) stack.push_back({in, 0});
      continue;
    }
    order.push_back(t);
    stack.pop_back();
  }
  std::reverse(order.begin(), order.end());

  std::unordered_map<TensorImpl*, backends::Tensor> grads;
  grads[impl_.get()] = backends::training::Full(shape(), 1.0f);
  for (TensorImpl* t : order) {
    auto it = grads.find(t);
    if (it == grads.end()) continue;  // no gradient flowed here
    backends::Tensor g = std::move(it->second);
    grads.erase(it);
    if (!t->grad_fn) {
      if (!t->grad.defined()) {
        t->grad = backends::training::Affine(g, 1.0f, 0.0f);  // own the buffer
      } else {
        absl::StatusOr<backends::Tensor> sum = backends::training::Add(t->grad, g);
        if (!sum.ok()) return sum.status();
        t->grad = *std::move(sum);
      }
      continue;
    }
    const internal::Node& node = *t->grad_fn;
    absl::StatusOr<std::vector<backends::Tensor>> input_grads = node.backward(g);
    if (!input_grads.ok()) {
      return absl::Status(
          input_grads.status().code(),
          absl::StrCat("backward of ", node.name, ": ", input_grads.status().message()));
    }
    for (size_t i = 0; i < node.inputs.size() && i < input_grads->size(); ++i) {
      TensorImpl* in = node.inputs[i].get();
      const backends::Tensor& gi = (*input_grads)[i];
      if (!in->requires_grad || !gi.defined()) continue;
      if (gi.shape() != in->value.shape()) {
        return absl::InternalError(absl::StrCat("backward of ", node.name, ": gradient ",
                                                gi.Describe(), " for input ", i, " of shape ",
                                                in->value.Describe()));
      }
      absl::StatusOr<backends::Tensor> sum = Accumulate(grads[in], gi);
      if (!sum.ok()) return sum.status();
      grads[in] = *std::move(sum);
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::nn
