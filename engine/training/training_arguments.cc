#include "engine/training/training_arguments.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::training {
namespace {

absl::Status Bad(const char* name, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("TrainingArguments: ", name, " ", what));
}

}  // namespace

#define TF_SETTER(type, name)                                        \
  TrainingArgumentsBuilder& TrainingArgumentsBuilder::name(type v) { \
    args_.name = std::move(v);                                       \
    return *this;                                                    \
  }
TF_SETTER(std::string, output_dir)
TF_SETTER(int64_t, num_train_epochs)
TF_SETTER(int64_t, max_steps)
TF_SETTER(int64_t, per_device_train_batch_size)
TF_SETTER(int64_t, per_device_eval_batch_size)
TF_SETTER(int64_t, gradient_accumulation_steps)
TF_SETTER(double, learning_rate)
TF_SETTER(int64_t, warmup_steps)
TF_SETTER(double, warmup_ratio)
TF_SETTER(nn::LrScheduleKind, lr_scheduler_type)
TF_SETTER(double, weight_decay)
TF_SETTER(double, adam_epsilon)
TF_SETTER(double, max_grad_norm)
TF_SETTER(int64_t, logging_steps)
TF_SETTER(EvalStrategy, eval_strategy)
TF_SETTER(int64_t, eval_steps)
TF_SETTER(int64_t, save_steps)
TF_SETTER(int64_t, save_total_limit)
TF_SETTER(uint64_t, seed)
TF_SETTER(bool, dataloader_drop_last)
TF_SETTER(bool, train_shuffle)
#undef TF_SETTER

TrainingArgumentsBuilder& TrainingArgumentsBuilder::adam_betas(double beta1, double beta2) {
  args_.adam_beta1 = beta1;
  args_.adam_beta2 = beta2;
  return *this;
}

absl::StatusOr<TrainingArguments> TrainingArgumentsBuilder::Build() const {
  const TrainingArguments& a = args_;
  if (a.output_dir.empty()) return Bad("output_dir", "is required");
  if (a.max_steps <= 0 && a.num_train_epochs < 1) {
    return Bad("num_train_epochs",
               absl::StrCat("must be >= 1 (or max_steps > 0), got ", a.num_train_epochs));
  }
  for (auto [name, value] :
       {std::pair{"per_device_train_batch_size", a.per_device_train_batch_size},
        std::pair{"per_device_eval_batch_size", a.per_device_eval_batch_size},
        std::pair{"gradient_accumulation_steps", a.gradient_accumulation_steps},
        std::pair{"logging_steps", a.logging_steps}}) {
    if (value < 1 || value > (1 << 20)) {
      return Bad(name, absl::StrCat("must be between 1 and 2^20, got ", value));
    }
  }
  for (auto [name, value] :
       {std::pair{"warmup_steps", a.warmup_steps}, std::pair{"eval_steps", a.eval_steps},
        std::pair{"save_steps", a.save_steps}, std::pair{"save_total_limit", a.save_total_limit}}) {
    if (value < 0) return Bad(name, absl::StrCat("must be >= 0, got ", value));
  }
  if (!(a.learning_rate > 0 && std::isfinite(a.learning_rate))) {
    return Bad("learning_rate", absl::StrCat("must be positive, got ", a.learning_rate));
  }
  if (!(a.warmup_ratio >= 0 && a.warmup_ratio <= 1)) {
    return Bad("warmup_ratio", absl::StrCat("must be in [0, 1], got ", a.warmup_ratio));
  }
  if (!(a.weight_decay >= 0 && std::isfinite(a.weight_decay))) {
    return Bad("weight_decay", absl::StrCat("must be >= 0, got ", a.weight_decay));
  }
  if (!(a.adam_beta1 >= 0 && a.adam_beta1 < 1 && a.adam_beta2 >= 0 && a.adam_beta2 < 1)) {
    return Bad("adam_betas", "must be in [0, 1)");
  }
  if (!(a.adam_epsilon >= 0)) return Bad("adam_epsilon", "must be >= 0");
  if (!(a.max_grad_norm >= 0 && std::isfinite(a.max_grad_norm))) {
    return Bad("max_grad_norm", absl::StrCat("must be >= 0, got ", a.max_grad_norm));
  }
  return a;
}

absl::StatusOr<EvalStrategy> ParseEvalStrategy(const std::string& name) {
  if (name == "no") return EvalStrategy::kNo;
  if (name == "steps") return EvalStrategy::kSteps;
  if (name == "epoch") return EvalStrategy::kEpoch;
  return absl::InvalidArgumentError(
      absl::StrCat("eval strategy '", name, "' is not one of no, steps, epoch"));
}

absl::StatusOr<nn::LrScheduleKind> ParseLrSchedulerType(const std::string& name) {
  if (name == "constant") return nn::LrScheduleKind::kConstant;
  if (name == "constant_with_warmup") return nn::LrScheduleKind::kConstantWithWarmup;
  if (name == "linear") return nn::LrScheduleKind::kLinear;
  if (name == "cosine") return nn::LrScheduleKind::kCosine;
  return absl::InvalidArgumentError(absl::StrCat(
      "lr scheduler '", name, "' is not one of constant, constant_with_warmup, linear, cosine"));
}

}  // namespace trustformers::training
