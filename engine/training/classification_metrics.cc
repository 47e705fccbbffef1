#include "engine/training/classification_metrics.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::training {

absl::StatusOr<ClassificationMetrics> ComputeClassificationMetrics(
    const std::vector<int64_t>& labels, const std::vector<int64_t>& predictions, int64_t num_labels,
    double loss) {
  if (labels.size() != predictions.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.size(), " labels but ", predictions.size(), " predictions"));
  }
  const auto n = static_cast<size_t>(num_labels);
  std::vector<int64_t> true_positive(n), predicted(n), actual(n);
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i], p = predictions[i];
    if (y < 0 || y >= num_labels || p < 0 || p >= num_labels) {
      return absl::InvalidArgumentError(absl::StrCat("class ", (y < 0 || y >= num_labels) ? y : p,
                                                     " at example ", i, " is outside [0, ",
                                                     num_labels, ")"));
    }
    ++actual[static_cast<size_t>(y)];
    ++predicted[static_cast<size_t>(p)];
    if (y == p) {
      ++correct;
      ++true_positive[static_cast<size_t>(y)];
    }
  }
  ClassificationMetrics m;
  m.loss = loss;
  m.examples = static_cast<int64_t>(labels.size());
  if (labels.empty()) return m;
  m.accuracy = static_cast<double>(correct) / static_cast<double>(labels.size());
  double f1_sum = 0.0;
  int64_t classes = 0;
  for (size_t c = 0; c < n; ++c) {
    if (actual[c] == 0 && predicted[c] == 0) continue;
    ++classes;
    // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + actual).
    f1_sum +=
        2.0 * static_cast<double>(true_positive[c]) / static_cast<double>(predicted[c] + actual[c]);
  }
  m.macro_f1 = classes == 0 ? 0.0 : f1_sum / static_cast<double>(classes);
  return m;
}

}  // namespace trustformers::training
