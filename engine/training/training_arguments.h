// TrainingArguments: every knob of a fine-tuning run, named as Hugging Face's TrainingArguments
// names them so a recipe moves between the two unchanged, built and checked by a builder.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "models/nn/lr_schedule.h"

namespace trustformers::training {

enum class EvalStrategy { kNo, kSteps, kEpoch };

struct TrainingArguments {
  std::string output_dir;  // checkpoints (checkpoint-<step>/) go here
  int64_t num_train_epochs = 3;
  int64_t max_steps = -1;  // > 0: this many optimizer steps, overriding num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 32;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  int64_t warmup_steps = 0;   // wins over warmup_ratio when > 0
  double warmup_ratio = 0.0;  // of the total optimizer steps
  nn::LrScheduleKind lr_scheduler_type = nn::LrScheduleKind::kLinear;
  double weight_decay = 0.0;  // AdamW's; never applied to biases and LayerNorm weights
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;  // 0 turns clipping off
  int64_t logging_steps = 50;
  EvalStrategy eval_strategy = EvalStrategy::kNo;
  int64_t eval_steps = 0;        // with kSteps; logging_steps when 0
  int64_t save_steps = 500;      // a checkpoint every this many steps; 0: none before the end
  int64_t save_total_limit = 0;  // checkpoints kept (oldest deleted first); 0: all
  uint64_t seed = 42;            // data order, new weights and dropout
  bool dataloader_drop_last = false;
  // false keeps the dataset's order every epoch (to replay a reference run batch for batch).
  bool train_shuffle = true;
};

class TrainingArgumentsBuilder {
 public:
  TrainingArgumentsBuilder& output_dir(std::string v);
  TrainingArgumentsBuilder& num_train_epochs(int64_t v);
  TrainingArgumentsBuilder& max_steps(int64_t v);
  TrainingArgumentsBuilder& per_device_train_batch_size(int64_t v);
  TrainingArgumentsBuilder& per_device_eval_batch_size(int64_t v);
  TrainingArgumentsBuilder& gradient_accumulation_steps(int64_t v);
  TrainingArgumentsBuilder& learning_rate(double v);
  TrainingArgumentsBuilder& warmup_steps(int64_t v);
  TrainingArgumentsBuilder& warmup_ratio(double v);
  TrainingArgumentsBuilder& lr_scheduler_type(nn::LrScheduleKind v);
  TrainingArgumentsBuilder& weight_decay(double v);
  TrainingArgumentsBuilder& adam_betas(double beta1, double beta2);
  TrainingArgumentsBuilder& adam_epsilon(double v);
  TrainingArgumentsBuilder& max_grad_norm(double v);
  TrainingArgumentsBuilder& logging_steps(int64_t v);
  TrainingArgumentsBuilder& eval_strategy(EvalStrategy v);
  TrainingArgumentsBuilder& eval_steps(int64_t v);
  TrainingArgumentsBuilder& save_steps(int64_t v);
  TrainingArgumentsBuilder& save_total_limit(int64_t v);
  TrainingArgumentsBuilder& seed(uint64_t v);
  TrainingArgumentsBuilder& dataloader_drop_last(bool v);
  TrainingArgumentsBuilder& train_shuffle(bool v);

  // INVALID_ARGUMENT naming the first argument out of range (an empty output_dir, a batch size
  // below 1, a learning rate that is not positive and finite, a warmup ratio outside [0, 1], ...).
  absl::StatusOr<TrainingArguments> Build() const;

 private:
  TrainingArguments args_;
};

// "no" / "steps" / "epoch" and "constant" / "constant_with_warmup" / "linear" / "cosine".
absl::StatusOr<EvalStrategy> ParseEvalStrategy(const std::string& name);
absl::StatusOr<nn::LrScheduleKind> ParseLrSchedulerType(const std::string& name);

}  // namespace trustformers::training
