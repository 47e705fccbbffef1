// One fine-tuning run from a base model folder to a saved classifier: the new
// BertForSequenceClassification (a head for `labels`), the Trainer over the datasets, and the
// Hugging Face folder written at the end. What `trustformers finetune` runs in one process, so
// the command line never handles the model itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/training/trainer.h"
#include "engine/training/training_arguments.h"
#include "models/nn/data.h"

namespace trustformers::training {

struct FineTuneSpec {
  std::string base_folder;    // a BERT-family Hugging Face folder
  std::string output_folder;  // where the fine-tuned model is written when training ends
  TrainingArguments args;
  std::vector<std::string> labels;  // id2label of the new head
  std::shared_ptr<const nn::Dataset> train;
  std::shared_ptr<const nn::Dataset> eval;  // may be null
  uint64_t seed = 0;                        // the new head's initialisation and dropout
  double dropout = -1.0;                    // < 0: the config's
  std::string resume;                       // Trainer::Train's resume_from_checkpoint
};

// Errors: the model's (INVALID_ARGUMENT / UNIMPLEMENTED / NOT_FOUND for a folder it cannot
// train), the Trainer's, and the save's.
absl::StatusOr<TrainResult> FineTune(const FineTuneSpec& spec, TrainerHooks hooks = {});

}  // namespace trustformers::training
