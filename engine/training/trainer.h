// The Trainer: fine-tunes a BertForSequenceClassification on a dataset the way Hugging Face's
// Trainer does (AdamW with biases and LayerNorm weights out of weight decay, a warmup schedule,
// gradient accumulation and clipping, periodic logging, evaluation and checkpoints), reading top
// to bottom as one loop over optimizer steps.
//
// A run is reproducible from its seed: the data order of every epoch depends only on
// (seed, epoch), and a checkpoint holds the weights, AdamW's moments, the schedule's step, the
// dropout generator and the position in the data, so `Train(checkpoint)` continues exactly where
// the interrupted run was and ends with the same weights as a run never interrupted.
//
// Threads: Train runs on the caller's thread; hooks are called on it between optimizer steps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/training/classification_metrics.h"
#include "engine/training/training_arguments.h"
#include "models/nn/bert_classifier.h"
#include "models/nn/data.h"

namespace trustformers::training {

// What a progress callback hears about.
struct TrainerEvent {
  enum class Kind {
    kLog,         // every logging_steps: loss, learning_rate, grad_norm, speed
    kEvaluation,  // metrics on the evaluation set
    kCheckpoint,  // a checkpoint is complete on disk
    kEnd,         // the last step is done
  };
  Kind kind = Kind::kLog;
  int64_t step = 0;       // optimizer steps done
  int64_t max_steps = 0;  // of the whole run
  double epoch = 0.0;     // fractional: 1.5 is halfway through the second epoch
  double loss = 0.0;      // mean training loss since the previous kLog
  double learning_rate = 0.0;
  double grad_norm = 0.0;           // before clipping, of the last step
  double samples_per_second = 0.0;  // training examples since this process started the run
  double eta_seconds = 0.0;
  std::optional<ClassificationMetrics> metrics;  // kEvaluation
  std::string checkpoint;                        // kCheckpoint: its folder
};

struct TrainerHooks {
  std::function<void(const TrainerEvent&)> on_event;
  // Asked between optimizer steps; true stops the run with CANCELLED.
  std::function<bool()> should_stop;
  // Called between optimizer steps (a service yields the CPU to waiting requests here).
  std::function<void()> between_steps;
};

struct TrainResult {
  int64_t global_step = 0;
  double train_loss = 0.0;  // mean over every step of this run
  double seconds = 0.0;
  double samples_per_second = 0.0;
  std::optional<ClassificationMetrics> eval_metrics;  // the final evaluation, when there is one
  std::vector<TrainerEvent> log_history;              // every kLog and kEvaluation event
};

class Trainer {
 public:
  // `eval` may be null. The model is trained in place and must outlive the Trainer.
  Trainer(nn::BertForSequenceClassification* model, TrainingArguments args,
          std::shared_ptr<const nn::Dataset> train, std::shared_ptr<const nn::Dataset> eval,
          TrainerHooks hooks = {});

  // Trains to the end. `resume_from_checkpoint` is a checkpoint folder, "latest" for the
  // newest complete checkpoint under output_dir (none: start afresh), or "" to start afresh.
  // INVALID_ARGUMENT for an empty training set or labels outside the head; NOT_FOUND for a
  // checkpoint folder that is missing or incomplete; CANCELLED when should_stop said so.
  absl::StatusOr<TrainResult> Train(const std::string& resume_from_checkpoint = "");

  // Loss, accuracy and macro-F1 on `dataset` (the evaluation set when null); predictions in
  // dataset order when `predictions` is not null.
  absl::StatusOr<ClassificationMetrics> Evaluate(const nn::Dataset* dataset = nullptr,
                                                 std::vector<int64_t>* predictions = nullptr);

  const TrainingArguments& args() const { return args_; }

 private:
  nn::BertForSequenceClassification* model_;
  TrainingArguments args_;
  std::shared_ptr<const nn::Dataset> train_;
  std::shared_ptr<const nn::Dataset> eval_;
  TrainerHooks hooks_;
};

// Hugging Face's AdamW rule: biases and LayerNorm weights (by parameter name) get no weight decay.
bool UsesWeightDecay(const std::string& parameter_name);

// The padded batch as the model's inputs.
nn::BertInputs ToBertInputs(const nn::TokenBatch& batch);

}  // namespace trustformers::training
