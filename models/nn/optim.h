// Optimizers in torch.optim's shape and arithmetic (the single-tensor path, float32 element
// math, scalars in double as Python computes them), so a run matches PyTorch step for step.
// Parameters come in groups; a group may override the weight decay (Hugging Face's recipe puts
// biases and norm weights in a group without decay). Parameters without a gradient are skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "models/nn/tensor.h"

namespace trustformers::nn {

struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<double> weight_decay;  // the optimizer's when unset
  std::optional<double> lr;            // the optimizer's when unset
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter that has a gradient. INVALID_ARGUMENT for bad options.
  virtual absl::Status step() = 0;
  void zero_grad();
  // Every group's learning rate (schedules set them each step).
  double lr(size_t group = 0) const { return groups_[group].lr; }
  void set_lr(double lr, size_t group);
  size_t group_count() const { return groups_.size(); }

 protected:
  struct Group {
    std::vector<Tensor> params;
    double lr;
    double weight_decay;
  };
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay);
  std::vector<Group> groups_;
};

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2, added to the gradient
  bool nesterov = false;      // needs momentum > 0 and dampening == 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, const SgdOptions& options);
  SGD(std::vector<Tensor> params, const SgdOptions& options)
      : SGD(std::vector<ParamGroup>{{std::move(params), {}, {}}}, options) {}
  absl::Status step() override;

 private:
  SgdOptions options_;
  std::vector<std::vector<std::vector<float>>> momentum_;  // [group][param] (empty: none yet)
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// Adam: weight decay as L2 on the gradient. AdamW: decoupled weight decay (the parameter shrinks
// by lr * weight_decay before the update). Both with bias correction.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled = false);
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled = false)
      : Adam(std::vector<ParamGroup>{{std::move(params), {}, {}}}, options, decoupled) {}
  absl::Status step() override;

  // Optimizer state (for checkpoints): per parameter, its step count and moments.
  struct State {
    int64_t step = 0;
    std::vector<float> exp_avg;
    std::vector<float> exp_avg_sq;
  };
  const std::vector<std::vector<State>>& state() const { return state_; }
  // Restores a state() saved from an optimizer over the same groups; INVALID_ARGUMENT (and no
  // change) when the group or parameter counts or the moment sizes do not fit.
  absl::Status set_state(std::vector<std::vector<State>> state);

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<std::vector<State>> state_;  // [group][param]
};

class AdamW : public Adam {
 public:
  // PyTorch's AdamW default weight decay is 0.01.
  static AdamOptions Defaults() {
    AdamOptions o;
    o.weight_decay = 1e-2;
    return o;
  }
  AdamW(std::vector<ParamGroup> groups, const AdamOptions& options = Defaults())
      : Adam(std::move(groups), options, true) {}
  AdamW(std::vector<Tensor> params, const AdamOptions& options = Defaults())
      : Adam(std::move(params), options, true) {}
};

// Scales every gradient by max_norm / (total + 1e-6) when the global L2 norm `total` of all
// gradients exceeds max_norm (as torch.nn.utils.clip_grad_norm_). Returns `total`.
// INVALID_ARGUMENT for a negative or NaN max_norm.
absl::StatusOr<float> clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace trustformers::nn
