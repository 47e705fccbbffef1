// Trainer checkpoints on disk: `<output_dir>/checkpoint-<step>/` holds a Hugging Face model
// folder (config.json, model.safetensors, tokenizer files: servable as it is), the optimizer's
// moments (optimizer.safetensors) and trainer_state.json (position in the data, schedule step,
// dropout generator, log accumulators).
//
// Writing is crash-safe: everything goes into `checkpoint-<step>.tmp/`, each file is synced, the
// completion marker COMPLETE is written last, and only then is the folder renamed into place and
// the output folder synced. A folder without COMPLETE is never resumed from, so a kill during a
// write leaves the previous checkpoint usable.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/nn/bert_classifier.h"
#include "models/nn/state_dict.h"

namespace trustformers::training {

struct CheckpointState {
  int64_t global_step = 0;     // optimizer steps done
  int64_t max_steps = 0;       // of the run that wrote it
  int64_t epoch = 0;           // the epoch the next batch comes from
  int64_t batch_in_epoch = 0;  // the next batch's index in that epoch
  std::array<uint64_t, 4> dropout_generator{};
  std::vector<int64_t> optimizer_steps;  // AdamW's step count per parameter, in model order
  double loss_since_log = 0.0;           // log accumulators, so logs continue unchanged
  int64_t steps_since_log = 0;
  double loss_sum = 0.0;  // over every step so far
  // What the position in the data means: a run resumes only with the same values.
  int64_t batch_size = 0;
  int64_t gradient_accumulation_steps = 0;
  int64_t train_examples = 0;
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = false;
};

constexpr char kCheckpointPrefix[] = "checkpoint-";
constexpr char kCompleteMarker[] = "COMPLETE";

// Writes checkpoint-<global_step> under output_dir (replacing one of that step) and returns its
// folder. `optimizer` holds the moments under names of the caller's choosing.
absl::StatusOr<std::string> WriteCheckpoint(const std::string& output_dir,
                                            const nn::BertForSequenceClassification& model,
                                            const CheckpointState& state,
                                            const nn::NamedTensors& optimizer);

// Loads a checkpoint folder into `model`, `optimizer` (tensors of the right names and shapes)
// and `state`. NOT_FOUND when the folder is missing or has no COMPLETE marker; INVALID_ARGUMENT
// when it does not fit the model.
absl::Status ReadCheckpoint(const std::string& folder,
                            const nn::BertForSequenceClassification& model, CheckpointState* state,
                            const nn::NamedTensors& optimizer);

// The complete checkpoint with the highest step under output_dir; "" when there is none.
std::string LatestCheckpoint(const std::string& output_dir);

// Deletes the oldest complete checkpoints beyond `keep` (0: keep all) and any leftover
// incomplete folders of crashed writes.
absl::Status PruneCheckpoints(const std::string& output_dir, int64_t keep);

}  // namespace trustformers::training
