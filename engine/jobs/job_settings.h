// A job's hyperparameters: checked against the ranges trustformers.v1.Hyperparameters
// documents when the job is created, and turned into the Trainer's arguments (with the
// documented defaults for whatever is unset) when it runs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/jobs/job_types.h"
#include "engine/training/training_arguments.h"

namespace trustformers::jobs {

// INVALID_ARGUMENT naming the first field out of its range or a combination that is not allowed
// (learning_rate with learning_rate_multiplier, warmup_steps with warmup_ratio, eval_steps
// without a validation file, num_labels different from the number of labels).
absl::Status ValidateHyperparameters(const Hyperparameters& h, bool has_validation_file,
                                     int64_t max_sequence_length);

// The Trainer's arguments for a job whose training set gives `steps_per_epoch` optimizer steps
// per epoch at its batch size (checkpoints default to one per epoch).
absl::StatusOr<training::TrainingArguments> TrainingArgumentsFor(const Job& job,
                                                                 const std::string& output_dir,
                                                                 bool has_validation_file,
                                                                 int64_t steps_per_epoch);

// Tokens per example when unset: the base model's limit.
int64_t MaxSequenceLength(const Hyperparameters& h, int64_t model_limit);

constexpr int32_t kDefaultEpochs = 3;
constexpr int32_t kDefaultBatchSize = 8;
constexpr double kDefaultLearningRate = 5e-5;
constexpr int32_t kDefaultLoggingSteps = 10;

}  // namespace trustformers::jobs
