#include "engine/jobs/job_settings.h"

#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::jobs {
namespace {

absl::Status Bad(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("hyperparameters.", field, " ", what));
}

template <typename T>
absl::Status InRange(const char* field, const std::optional<T>& value, T low, T high) {
  if (value && !(*value >= low && *value <= high)) {
    return Bad(field, absl::StrCat("must be between ", low, " and ", high, ", got ", *value));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MaxSequenceLength(const Hyperparameters& h, int64_t model_limit) {
  return h.max_seq_length ? *h.max_seq_length : model_limit;
}

absl::Status ValidateHyperparameters(const Hyperparameters& h, bool has_validation_file,
                                     int64_t max_sequence_length) {
  for (absl::Status s : {
           InRange("n_epochs", h.n_epochs, 1, 100),
           InRange<int64_t>("max_steps", h.max_steps, 1, int64_t{1} << 40),
           InRange("batch_size", h.batch_size, 1, 1024),
           InRange("gradient_accumulation_steps", h.gradient_accumulation_steps, 1, 1024),
           InRange<int64_t>("warmup_steps", h.warmup_steps, 0, int64_t{1} << 40),
           InRange("weight_decay", h.weight_decay, 0.0, 1.0),
           InRange("max_grad_norm", h.max_grad_norm, 0.0, 1e9),
           InRange("eval_steps", h.eval_steps, 1, 1 << 30),
           InRange("save_steps", h.save_steps, 1, 1 << 30),
           InRange<int32_t>("max_seq_length", h.max_seq_length, 1,
                            static_cast<int32_t>(max_sequence_length)),
           InRange("num_labels", h.num_labels, 1, 65536),
           InRange("logging_steps", h.logging_steps, 1, 1 << 30),
       }) {
    if (!s.ok()) return s;
  }
  if (h.learning_rate && !(*h.learning_rate > 0 && *h.learning_rate <= 1)) {
    return Bad("learning_rate", absl::StrCat("must be in (0, 1], got ", *h.learning_rate));
  }
  if (h.learning_rate_multiplier &&
      !(*h.learning_rate_multiplier > 0 && *h.learning_rate_multiplier <= 10)) {
    return Bad("learning_rate_multiplier",
               absl::StrCat("must be in (0, 10], got ", *h.learning_rate_multiplier));
  }
  if (h.learning_rate && h.learning_rate_multiplier) {
    return Bad("learning_rate", "and learning_rate_multiplier cannot both be set");
  }
  if (h.warmup_ratio && !(*h.warmup_ratio >= 0 && *h.warmup_ratio < 1)) {
    return Bad("warmup_ratio", absl::StrCat("must be in [0, 1), got ", *h.warmup_ratio));
  }
  if (h.warmup_steps && h.warmup_ratio) {
    return Bad("warmup_steps", "and warmup_ratio cannot both be set");
  }
  if (h.eval_steps && !has_validation_file) {
    return Bad("eval_steps", "needs a validation_file");
  }
  if (h.num_labels && *h.num_labels == 1) {
    return Bad("num_labels", "1 (a regression head) is not supported yet; use 2 or more");
  }
  if (!h.labels.empty()) {
    std::set<std::string> seen;
    for (const std::string& label : h.labels) {
      if (label.empty()) return Bad("labels", "holds an empty name");
      if (!seen.insert(label).second) return Bad("labels", absl::StrCat("repeats \"", label, "\""));
    }
    if (h.num_labels && static_cast<size_t>(*h.num_labels) != h.labels.size()) {
      return Bad("num_labels",
                 absl::StrCat("is ", *h.num_labels, " but ", h.labels.size(), " labels are named"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<training::TrainingArguments> TrainingArgumentsFor(const Job& job,
                                                                 const std::string& output_dir,
                                                                 bool has_validation_file,
                                                                 int64_t steps_per_epoch) {
  const Hyperparameters& h = job.hyperparameters;
  training::TrainingArgumentsBuilder b;
  b.output_dir(output_dir)
      .num_train_epochs(h.n_epochs.value_or(kDefaultEpochs))
      .max_steps(h.max_steps.value_or(-1))
      .per_device_train_batch_size(h.batch_size.value_or(kDefaultBatchSize))
      .per_device_eval_batch_size(32)
      .gradient_accumulation_steps(h.gradient_accumulation_steps.value_or(1))
      .learning_rate(
          h.learning_rate.value_or(kDefaultLearningRate * h.learning_rate_multiplier.value_or(1.0)))
      .warmup_steps(h.warmup_steps.value_or(0))
      .warmup_ratio(h.warmup_ratio.value_or(0.0))
      .weight_decay(h.weight_decay.value_or(0.0))
      .max_grad_norm(h.max_grad_norm.value_or(1.0))
      .logging_steps(h.logging_steps.value_or(kDefaultLoggingSteps))
      .save_steps(h.save_steps ? *h.save_steps : std::max<int64_t>(1, steps_per_epoch))
      .save_total_limit(2)
      .seed(job.seed);
  switch (h.lr_scheduler) {
    case LrSchedule::kConstant:
      b.lr_scheduler_type(nn::LrScheduleKind::kConstant);
      break;
    case LrSchedule::kCosine:
      b.lr_scheduler_type(nn::LrScheduleKind::kCosine);
      break;
    case LrSchedule::kUnspecified:
    case LrSchedule::kLinear:
      b.lr_scheduler_type(nn::LrScheduleKind::kLinear);
      break;
  }
  if (has_validation_file) {
    b.eval_strategy(h.eval_steps ? training::EvalStrategy::kSteps : training::EvalStrategy::kEpoch);
    if (h.eval_steps) b.eval_steps(*h.eval_steps);
  }
  return b.Build();
}

}  // namespace trustformers::jobs
