// The fine-tuning jobs service's records, as the engine keeps them: files, jobs and their event
// logs. They mirror trustformers.v1's FineTuning messages field for field (server/ converts
// between the two; the engine never sees a proto) and OpenAI's fine-tuning objects, whose names
// and states they take. Times are milliseconds since the Unix epoch; 0 means unset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trustformers::jobs {

enum class FilePurpose {
  kFineTune,            // training data ("fine-tune")
  kFineTuneValidation,  // held-out data
  kFineTuneResults,     // written by the server when a job ends
};

// A stored upload.
struct StoredFile {
  std::string id;        // "file-<hex>"
  std::string filename;  // the client's name, a label only
  FilePurpose purpose = FilePurpose::kFineTune;
  int64_t bytes = 0;
  std::string sha256;  // lowercase hex
  int64_t created_at_ms = 0;
  int64_t line_count = 0;  // non-blank lines
};

enum class JobState {
  kValidatingFiles,
  kQueued,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
};
bool IsTerminal(JobState state);
// OpenAI's spelling: "validating_files", "queued", "running", "succeeded", "failed",
// "cancelled".
const char* JobStateName(JobState state);

enum class JobTask { kSequenceClassification, kCausalLm };

enum class LrSchedule { kUnspecified, kConstant, kLinear, kCosine };

// What the caller asked for; unset fields take the documented defaults when the job runs.
struct Hyperparameters {
  std::optional<int32_t> n_epochs;
  std::optional<int64_t> max_steps;
  std::optional<int32_t> batch_size;
  std::optional<int32_t> gradient_accumulation_steps;
  std::optional<double> learning_rate;
  std::optional<double> learning_rate_multiplier;
  std::optional<int64_t> warmup_steps;
  std::optional<double> warmup_ratio;
  std::optional<double> weight_decay;
  std::optional<double> max_grad_norm;
  LrSchedule lr_scheduler = LrSchedule::kUnspecified;
  std::optional<uint64_t> seed;
  std::optional<int32_t> eval_steps;
  std::optional<int32_t> save_steps;
  std::optional<int32_t> max_seq_length;
  std::optional<int32_t> num_labels;
  std::vector<std::string> labels;
  std::optional<int32_t> logging_steps;
};

struct JobError {
  std::string code;  // e.g. "invalid_training_file", "internal_error", "base_model_not_found"
  std::string message;
  std::optional<int64_t> line;  // 1-based line of the file, when one record caused it
};

struct Progress {
  int64_t step = 0;
  int64_t total_steps = 0;
  double epoch = 0.0;
  double train_loss = 0.0;
  double learning_rate = 0.0;
  double samples_per_second = 0.0;
  double eta_seconds = 0.0;
};

struct CheckpointInfo {
  std::string id;  // "ftckpt-<job id>-<step>"
  int64_t step = 0;
  double epoch = 0.0;
  int64_t created_at_ms = 0;
  std::map<std::string, double> metrics;  // "train_loss", and eval metrics when known
  std::string path;                       // the checkpoint folder on the server
};

struct Job {
  std::string id;  // "ftjob-<hex>"
  std::string base_model;
  std::string fine_tuned_model;  // set when it succeeded
  JobState state = JobState::kValidatingFiles;
  JobTask task = JobTask::kSequenceClassification;
  std::string training_file;
  std::string validation_file;
  Hyperparameters hyperparameters;
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t estimated_finish_ms = 0;
  std::optional<JobError> error;
  Progress progress;
  int64_t trained_tokens = 0;
  std::vector<std::string> result_files;
  std::vector<CheckpointInfo> checkpoints;
  uint64_t seed = 0;  // the seed it runs with (chosen at creation when not given)
  std::map<std::string, std::string> metadata;
  std::string suffix;
  std::string idempotency_key;
};

enum class EventLevel { kInfo, kWarn, kError };

struct StateChange {
  std::optional<JobState> from;  // none for a job's first event
  JobState to = JobState::kValidatingFiles;
  std::string reason;
};

struct TrainingStep {
  int64_t step = 0;
  int64_t total_steps = 0;
  double epoch = 0.0;
  double loss = 0.0;
  double learning_rate = 0.0;
  double grad_norm = 0.0;
  double samples_per_second = 0.0;
  double eta_seconds = 0.0;
};

struct Evaluation {
  int64_t step = 0;
  double epoch = 0.0;
  std::map<std::string, double> metrics;  // "loss", "accuracy", "macro_f1"
};

struct ValidationIssue {
  int64_t line = 0;  // 0: the whole file
  std::string message;
  EventLevel level = EventLevel::kError;
};

struct FileValidation {
  std::string file_id;
  std::vector<ValidationIssue> issues;  // at most 100
};

// One entry of a job's event log; exactly one payload or none (a plain message).
struct JobEvent {
  std::string job_id;
  int64_t sequence = 0;  // 1, 2, 3, ... per job
  int64_t created_at_ms = 0;
  EventLevel level = EventLevel::kInfo;
  std::string message;
  std::optional<StateChange> state_change;
  std::optional<TrainingStep> training_step;
  std::optional<Evaluation> evaluation;
  std::optional<CheckpointInfo> checkpoint_saved;
  std::optional<FileValidation> file_validation;
};

}  // namespace trustformers::jobs
