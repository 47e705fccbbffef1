#include "engine/jobs/job_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace trustformers::jobs {
namespace {

using nlohmann::json;

// Thrown while decoding (besides nlohmann's own exceptions) and caught at the top, so the
// decoders read straight through instead of checking at every field.
class BadRecord : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An enum's stable names, in the store's files for good: never rename one.
template <typename Enum>
using Names = std::vector<std::pair<Enum, const char*>>;

const Names<JobTask>& TaskNames() {
  static const auto* names = new Names<JobTask>{
      {JobTask::kSequenceClassification, "sequence_classification"},
      {JobTask::kCausalLm, "causal_lm"},
  };
  return *names;
}

const Names<LrSchedule>& ScheduleNames() {
  static const auto* names = new Names<LrSchedule>{
      {LrSchedule::kUnspecified, "unspecified"},
      {LrSchedule::kConstant, "constant"},
      {LrSchedule::kLinear, "linear"},
      {LrSchedule::kCosine, "cosine"},
  };
  return *names;
}

const Names<EventLevel>& LevelNames() {
  static const auto* names = new Names<EventLevel>{
      {EventLevel::kInfo, "info"},
      {EventLevel::kWarn, "warn"},
      {EventLevel::kError, "error"},
  };
  return *names;
}

const Names<FilePurpose>& PurposeNames() {
  static const auto* names = new Names<FilePurpose>{
      {FilePurpose::kFineTune, "fine-tune"},
      {FilePurpose::kFineTuneValidation, "fine-tune-validation"},
      {FilePurpose::kFineTuneResults, "fine-tune-results"},
  };
  return *names;
}

template <typename Enum>
const char* NameOf(const Names<Enum>& names, Enum value) {
  for (const auto& [known, name] : names) {
    if (known == value) return name;
  }
  return "unknown";
}

template <typename Enum>
std::optional<Enum> ValueOf(const Names<Enum>& names, absl::string_view name) {
  for (const auto& [value, known] : names) {
    if (known == name) return value;
  }
  return std::nullopt;
}

template <typename Enum>
Enum ReadEnum(const Names<Enum>& names, const json& value) {
  const std::optional<Enum> known = ValueOf(names, value.get<std::string>());
  if (!known.has_value()) throw BadRecord(absl::StrCat("unknown name ", value.dump()));
  return *known;
}

JobState ReadState(const json& value) {
  const std::optional<JobState> state = JobStateFromName(value.get<std::string>());
  if (!state.has_value()) throw BadRecord(absl::StrCat("unknown job state ", value.dump()));
  return *state;
}

// ---- doubles and seeds

json Double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

double ReadDouble(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  throw BadRecord(absl::StrCat("expected a number, not ", value.dump()));
}

json Seed(uint64_t seed) { return absl::StrCat(seed); }

uint64_t ReadSeed(const json& value) {
  uint64_t seed = 0;
  if (!value.is_string() || !absl::SimpleAtoi(value.get<std::string>(), &seed)) {
    throw BadRecord(absl::StrCat("expected a seed as a decimal string, not ", value.dump()));
  }
  return seed;
}

json Metrics(const std::map<std::string, double>& metrics) {
  json object = json::object();
  for (const auto& [name, value] : metrics) object[name] = Double(value);
  return object;
}

std::map<std::string, double> ReadMetrics(const json& object) {
  if (!object.is_object()) throw BadRecord("metrics must be an object");
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : object.items()) metrics[name] = ReadDouble(value);
  return metrics;
}

// ---- field helpers: Put* omit what is unset; Read* leave a missing key's default alone

template <typename T>
void PutOptional(json& object, const char* key, const std::optional<T>& value) {
  if (value.has_value()) object[key] = *value;
}

void PutOptionalDouble(json& object, const char* key, const std::optional<double>& value) {
  if (value.has_value()) object[key] = Double(*value);
}

// The value under `key`, or null when missing.
const json* Find(const json& object, const char* key) {
  if (!object.is_object()) throw BadRecord("expected an object");
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

template <typename T>
void Read(const json& object, const char* key, T* out) {
  if (const json* value = Find(object, key)) *out = value->get<T>();
}

template <typename T>
void ReadOptional(const json& object, const char* key, std::optional<T>* out) {
  if (const json* value = Find(object, key)) *out = value->get<T>();
}

void ReadDoubleField(const json& object, const char* key, double* out) {
  if (const json* value = Find(object, key)) *out = ReadDouble(*value);
}

void ReadOptionalDouble(const json& object, const char* key, std::optional<double>* out) {
  if (const json* value = Find(object, key)) *out = ReadDouble(*value);
}

// ---- records

json HyperparametersJson(const Hyperparameters& h) {
  json o = json::object();
  PutOptional(o, "n_epochs", h.n_epochs);
  PutOptional(o, "max_steps", h.max_steps);
  PutOptional(o, "batch_size", h.batch_size);
  PutOptional(o, "gradient_accumulation_steps", h.gradient_accumulation_steps);
  PutOptionalDouble(o, "learning_rate", h.learning_rate);
  PutOptionalDouble(o, "learning_rate_multiplier", h.learning_rate_multiplier);
  PutOptional(o, "warmup_steps", h.warmup_steps);
  PutOptionalDouble(o, "warmup_ratio", h.warmup_ratio);
  PutOptionalDouble(o, "weight_decay", h.weight_decay);
  PutOptionalDouble(o, "max_grad_norm", h.max_grad_norm);
  o["lr_scheduler"] = NameOf(ScheduleNames(), h.lr_scheduler);
  if (h.seed.has_value()) o["seed"] = Seed(*h.seed);
  PutOptional(o, "eval_steps", h.eval_steps);
  PutOptional(o, "save_steps", h.save_steps);
  PutOptional(o, "max_seq_length", h.max_seq_length);
  PutOptional(o, "num_labels", h.num_labels);
  o["labels"] = h.labels;
  PutOptional(o, "logging_steps", h.logging_steps);
  return o;
}

Hyperparameters ReadHyperparameters(const json& o) {
  Hyperparameters h;
  ReadOptional(o, "n_epochs", &h.n_epochs);
  ReadOptional(o, "max_steps", &h.max_steps);
  ReadOptional(o, "batch_size", &h.batch_size);
  ReadOptional(o, "gradient_accumulation_steps", &h.gradient_accumulation_steps);
  ReadOptionalDouble(o, "learning_rate", &h.learning_rate);
  ReadOptionalDouble(o, "learning_rate_multiplier", &h.learning_rate_multiplier);
  ReadOptional(o, "warmup_steps", &h.warmup_steps);
  ReadOptionalDouble(o, "warmup_ratio", &h.warmup_ratio);
  ReadOptionalDouble(o, "weight_decay", &h.weight_decay);
  ReadOptionalDouble(o, "max_grad_norm", &h.max_grad_norm);
  if (const json* v = Find(o, "lr_scheduler")) h.lr_scheduler = ReadEnum(ScheduleNames(), *v);
  if (const json* v = Find(o, "seed")) h.seed = ReadSeed(*v);
  ReadOptional(o, "eval_steps", &h.eval_steps);
  ReadOptional(o, "save_steps", &h.save_steps);
  ReadOptional(o, "max_seq_length", &h.max_seq_length);
  ReadOptional(o, "num_labels", &h.num_labels);
  Read(o, "labels", &h.labels);
  ReadOptional(o, "logging_steps", &h.logging_steps);
  return h;
}

json CheckpointJson(const CheckpointInfo& c) {
  return json{{"id", c.id},
              {"step", c.step},
              {"epoch", Double(c.epoch)},
              {"created_at_ms", c.created_at_ms},
              {"metrics", Metrics(c.metrics)},
              {"path", c.path}};
}

CheckpointInfo ReadCheckpoint(const json& o) {
  CheckpointInfo c;
  Read(o, "id", &c.id);
  Read(o, "step", &c.step);
  ReadDoubleField(o, "epoch", &c.epoch);
  Read(o, "created_at_ms", &c.created_at_ms);
  if (const json* v = Find(o, "metrics")) c.metrics = ReadMetrics(*v);
  Read(o, "path", &c.path);
  return c;
}

json ProgressJson(const Progress& p) {
  return json{{"step", p.step},
              {"total_steps", p.total_steps},
              {"epoch", Double(p.epoch)},
              {"train_loss", Double(p.train_loss)},
              {"learning_rate", Double(p.learning_rate)},
              {"samples_per_second", Double(p.samples_per_second)},
              {"eta_seconds", Double(p.eta_seconds)}};
}

Progress ReadProgress(const json& o) {
  Progress p;
  Read(o, "step", &p.step);
  Read(o, "total_steps", &p.total_steps);
  ReadDoubleField(o, "epoch", &p.epoch);
  ReadDoubleField(o, "train_loss", &p.train_loss);
  ReadDoubleField(o, "learning_rate", &p.learning_rate);
  ReadDoubleField(o, "samples_per_second", &p.samples_per_second);
  ReadDoubleField(o, "eta_seconds", &p.eta_seconds);
  return p;
}

json ErrorJson(const JobError& e) {
  json o{{"code", e.code}, {"message", e.message}};
  PutOptional(o, "line", e.line);
  return o;
}

JobError ReadError(const json& o) {
  JobError e;
  Read(o, "code", &e.code);
  Read(o, "message", &e.message);
  ReadOptional(o, "line", &e.line);
  return e;
}

json StateChangeJson(const StateChange& s) {
  json o{{"to", JobStateName(s.to)}, {"reason", s.reason}};
  if (s.from.has_value()) o["from"] = JobStateName(*s.from);
  return o;
}

StateChange ReadStateChange(const json& o) {
  StateChange s;
  if (const json* v = Find(o, "from")) s.from = ReadState(*v);
  if (const json* v = Find(o, "to")) s.to = ReadState(*v);
  Read(o, "reason", &s.reason);
  return s;
}

json TrainingStepJson(const TrainingStep& t) {
  return json{{"step", t.step},
              {"total_steps", t.total_steps},
              {"epoch", Double(t.epoch)},
              {"loss", Double(t.loss)},
              {"learning_rate", Double(t.learning_rate)},
              {"grad_norm", Double(t.grad_norm)},
              {"samples_per_second", Double(t.samples_per_second)},
              {"eta_seconds", Double(t.eta_seconds)}};
}

TrainingStep ReadTrainingStep(const json& o) {
  TrainingStep t;
  Read(o, "step", &t.step);
  Read(o, "total_steps", &t.total_steps);
  ReadDoubleField(o, "epoch", &t.epoch);
  ReadDoubleField(o, "loss", &t.loss);
  ReadDoubleField(o, "learning_rate", &t.learning_rate);
  ReadDoubleField(o, "grad_norm", &t.grad_norm);
  ReadDoubleField(o, "samples_per_second", &t.samples_per_second);
  ReadDoubleField(o, "eta_seconds", &t.eta_seconds);
  return t;
}

json EvaluationJson(const Evaluation& e) {
  return json{{"step", e.step}, {"epoch", Double(e.epoch)}, {"metrics", Metrics(e.metrics)}};
}

Evaluation ReadEvaluation(const json& o) {
  Evaluation e;
  Read(o, "step", &e.step);
  ReadDoubleField(o, "epoch", &e.epoch);
  if (const json* v = Find(o, "metrics")) e.metrics = ReadMetrics(*v);
  return e;
}

json FileValidationJson(const FileValidation& f) {
  json issues = json::array();
  for (const ValidationIssue& issue : f.issues) {
    issues.push_back(json{{"line", issue.line},
                          {"message", issue.message},
                          {"level", NameOf(LevelNames(), issue.level)}});
  }
  return json{{"file_id", f.file_id}, {"issues", std::move(issues)}};
}

FileValidation ReadFileValidation(const json& o) {
  FileValidation f;
  Read(o, "file_id", &f.file_id);
  if (const json* issues = Find(o, "issues")) {
    if (!issues->is_array()) throw BadRecord("issues must be an array");
    for (const json& item : *issues) {
      ValidationIssue issue;
      Read(item, "line", &issue.line);
      Read(item, "message", &issue.message);
      if (const json* v = Find(item, "level")) issue.level = ReadEnum(LevelNames(), *v);
      f.issues.push_back(std::move(issue));
    }
  }
  return f;
}

// Parses `text` as an object and runs `read` on it; every failure becomes DATA_LOSS.
template <typename Reader>
absl::Status Decode(absl::string_view text, absl::string_view what, Reader read) {
  try {
    const json object = json::parse(text.begin(), text.end());
    if (!object.is_object()) throw BadRecord("not a JSON object");
    read(object);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("unreadable ", what, ": ", e.what()));
  }
}

}  // namespace

std::string EncodeJobBody(const Job& job) {
  json o = json::object();
  o["fine_tuned_model"] = job.fine_tuned_model;
  o["task"] = NameOf(TaskNames(), job.task);
  o["training_file"] = job.training_file;
  o["validation_file"] = job.validation_file;
  o["hyperparameters"] = HyperparametersJson(job.hyperparameters);
  o["started_at_ms"] = job.started_at_ms;
  o["finished_at_ms"] = job.finished_at_ms;
  o["estimated_finish_ms"] = job.estimated_finish_ms;
  if (job.error.has_value()) o["error"] = ErrorJson(*job.error);
  o["progress"] = ProgressJson(job.progress);
  o["trained_tokens"] = job.trained_tokens;
  o["result_files"] = job.result_files;
  json checkpoints = json::array();
  for (const CheckpointInfo& c : job.checkpoints) checkpoints.push_back(CheckpointJson(c));
  o["checkpoints"] = std::move(checkpoints);
  o["seed"] = Seed(job.seed);
  o["metadata"] = job.metadata;
  o["suffix"] = job.suffix;
  return o.dump();
}

absl::Status DecodeJobBody(absl::string_view text, Job* job) {
  return Decode(text, "job record", [job](const json& o) {
    Read(o, "fine_tuned_model", &job->fine_tuned_model);
    if (const json* v = Find(o, "task")) job->task = ReadEnum(TaskNames(), *v);
    Read(o, "training_file", &job->training_file);
    Read(o, "validation_file", &job->validation_file);
    if (const json* v = Find(o, "hyperparameters")) job->hyperparameters = ReadHyperparameters(*v);
    Read(o, "started_at_ms", &job->started_at_ms);
    Read(o, "finished_at_ms", &job->finished_at_ms);
    Read(o, "estimated_finish_ms", &job->estimated_finish_ms);
    job->error.reset();
    if (const json* v = Find(o, "error")) job->error = ReadError(*v);
    if (const json* v = Find(o, "progress")) job->progress = ReadProgress(*v);
    Read(o, "trained_tokens", &job->trained_tokens);
    Read(o, "result_files", &job->result_files);
    if (const json* v = Find(o, "checkpoints")) {
      if (!v->is_array()) throw BadRecord("checkpoints must be an array");
      job->checkpoints.clear();
      for (const json& c : *v) job->checkpoints.push_back(ReadCheckpoint(c));
    }
    if (const json* v = Find(o, "seed")) job->seed = ReadSeed(*v);
    Read(o, "metadata", &job->metadata);
    Read(o, "suffix", &job->suffix);
  });
}

std::string EncodeEventBody(const JobEvent& event) {
  json o{{"level", NameOf(LevelNames(), event.level)}, {"message", event.message}};
  if (event.state_change.has_value()) o["state_change"] = StateChangeJson(*event.state_change);
  if (event.training_step.has_value()) o["training_step"] = TrainingStepJson(*event.training_step);
  if (event.evaluation.has_value()) o["evaluation"] = EvaluationJson(*event.evaluation);
  if (event.checkpoint_saved.has_value()) {
    o["checkpoint_saved"] = CheckpointJson(*event.checkpoint_saved);
  }
  if (event.file_validation.has_value()) {
    o["file_validation"] = FileValidationJson(*event.file_validation);
  }
  return o.dump();
}

absl::Status DecodeEventBody(absl::string_view text, JobEvent* event) {
  return Decode(text, "job event", [event](const json& o) {
    if (const json* v = Find(o, "level")) event->level = ReadEnum(LevelNames(), *v);
    Read(o, "message", &event->message);
    event->state_change.reset();
    event->training_step.reset();
    event->evaluation.reset();
    event->checkpoint_saved.reset();
    event->file_validation.reset();
    if (const json* v = Find(o, "state_change")) event->state_change = ReadStateChange(*v);
    if (const json* v = Find(o, "training_step")) event->training_step = ReadTrainingStep(*v);
    if (const json* v = Find(o, "evaluation")) event->evaluation = ReadEvaluation(*v);
    if (const json* v = Find(o, "checkpoint_saved")) event->checkpoint_saved = ReadCheckpoint(*v);
    if (const json* v = Find(o, "file_validation")) event->file_validation = ReadFileValidation(*v);
  });
}

std::optional<JobState> JobStateFromName(absl::string_view name) {
  for (JobState state : {JobState::kValidatingFiles, JobState::kQueued, JobState::kRunning,
                         JobState::kSucceeded, JobState::kFailed, JobState::kCancelled}) {
    if (name == JobStateName(state)) return state;
  }
  return std::nullopt;
}

const char* FilePurposeName(FilePurpose purpose) { return NameOf(PurposeNames(), purpose); }

std::optional<FilePurpose> FilePurposeFromName(absl::string_view name) {
  return ValueOf(PurposeNames(), name);
}

}  // namespace trustformers::jobs
