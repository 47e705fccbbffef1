// Evaluation metrics of a classifier, computed as scikit-learn computes them: accuracy, and
// macro-F1 averaged over the classes that occur among the labels or the predictions (a class
// with no true and no predicted example is left out; F1 is 0 where precision + recall is 0).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::training {

struct ClassificationMetrics {
  double loss = 0.0;  // mean cross entropy
  double accuracy = 0.0;
  double macro_f1 = 0.0;
  int64_t examples = 0;
};

// INVALID_ARGUMENT when the vectors differ in length or hold a class outside [0, num_labels).
absl::StatusOr<ClassificationMetrics> ComputeClassificationMetrics(
    const std::vector<int64_t>& labels, const std::vector<int64_t>& predictions, int64_t num_labels,
    double loss);

}  // namespace trustformers::training
