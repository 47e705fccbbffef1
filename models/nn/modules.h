// Layers in PyTorch's shape: a Module owns its parameters (leaf tensors that require gradients),
// maps a tensor to a tensor with forward(), and lists its parameters for an optimizer.
// Initialisation follows PyTorch's defaults (Linear: U(-1/sqrt(in), 1/sqrt(in)); Embedding:
// N(0, 1); LayerNorm: ones and zeros), drawn from the caller's seeded Generator.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/nn/generator.h"
#include "models/nn/tensor.h"

namespace trustformers::nn {

class Module {
 public:
  virtual ~Module() = default;
  virtual absl::StatusOr<Tensor> forward(const Tensor& x) = 0;
  // Parameters with their PyTorch names ("weight", "0.bias", ...), in registration order.
  virtual std::vector<std::pair<std::string, Tensor>> named_parameters() const { return {}; }
  std::vector<Tensor> parameters() const;
  // Training mode (dropout active) or evaluation mode.
  virtual void train(bool on = true) { training_ = on; }
  void eval() { train(false); }
  bool training() const { return training_; }
  void zero_grad() const;

 private:
  bool training_ = true;
};

// y = x W^T + b: x [..., in] -> [..., out]; weight [out, in], bias [out].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& generator, bool bias = true);
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
  Tensor weight;
  Tensor bias;  // undefined without bias
};

class ReLU : public Module {
 public:
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
};

class GELU : public Module {
 public:
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
};

// Over the last dimension, of size `dim`.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, float epsilon = 1e-5f);
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
  Tensor weight;  // [dim]
  Tensor bias;    // [dim]
  float epsilon;
};

// A table of `count` rows of `dim` floats.
class Embedding : public Module {
 public:
  Embedding(int64_t count, int64_t dim, Generator& generator);
  // ids of any shape S -> [S..., dim].
  absl::StatusOr<Tensor> forward(const std::vector<int64_t>& ids, const Shape& shape);
  // The ids as the values of a tensor (integral floats).
  absl::StatusOr<Tensor> forward(const Tensor& ids) override;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
  Tensor weight;  // [count, dim]
};

// Zeroes elements with probability p in training mode; its own generator, seeded.
class Dropout : public Module {
 public:
  explicit Dropout(float p, uint64_t seed = 0) : p_(p), generator_(seed) {}
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
  Generator& generator() { return generator_; }

 private:
  float p_;
  Generator generator_;
};

// Modules applied in order; parameters are named "<position>.<name>".
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules)
      : modules_(std::move(modules)) {}
  Sequential& add(std::shared_ptr<Module> module);
  absl::StatusOr<Tensor> forward(const Tensor& x) override;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
  void train(bool on = true) override;
  const std::vector<std::shared_ptr<Module>>& modules() const { return modules_; }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace trustformers::nn
