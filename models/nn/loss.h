// Loss modules in PyTorch's shape, mean-reduced.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "models/nn/functional.h"

namespace trustformers::nn {

// Cross entropy of logits [N, C] against class ids; rows whose target is ignore_index count for
// nothing (a batch with none counted has loss 0, where PyTorch gives NaN); label smoothing mixes
// in the uniform distribution as PyTorch does.
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(int64_t ignore_index = -100, float label_smoothing = 0.0f) {
    options_.ignore_index = ignore_index;
    options_.label_smoothing = label_smoothing;
  }
  absl::StatusOr<Tensor> forward(const Tensor& logits, const std::vector<int64_t>& targets) const {
    return cross_entropy(logits, targets, options_);
  }

 private:
  backends::training::CrossEntropyOptions options_;
};

class MSELoss {
 public:
  absl::StatusOr<Tensor> forward(const Tensor& prediction, const Tensor& target) const {
    return mse_loss(prediction, target);
  }
};

}  // namespace trustformers::nn
