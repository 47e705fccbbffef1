#include "server/http/openai/fine_tuning_json.h"

#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/openai/json_fields.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

constexpr char kEventPrefix[] = "ftevent-";

nlohmann::json SecondsOrNull(const google::protobuf::Timestamp& t, bool set) {
  return set ? nlohmann::json(t.seconds()) : nlohmann::json();
}

const char* StatusName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_VALIDATING_FILES:
      return "validating_files";
    case v1::JOB_STATE_QUEUED:
      return "queued";
    case v1::JOB_STATE_RUNNING:
      return "running";
    case v1::JOB_STATE_SUCCEEDED:
      return "succeeded";
    case v1::JOB_STATE_FAILED:
      return "failed";
    case v1::JOB_STATE_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

const char* LevelName(v1::EventLevel level) {
  switch (level) {
    case v1::EVENT_LEVEL_WARN:
      return "warn";
    case v1::EVENT_LEVEL_ERROR:
      return "error";
    default:
      return "info";
  }
}

const char* SchedulerName(v1::LrScheduler scheduler) {
  switch (scheduler) {
    case v1::LR_SCHEDULER_CONSTANT:
      return "constant";
    case v1::LR_SCHEDULER_COSINE:
      return "cosine";
    default:
      return "linear";
  }
}

double Seconds(const google::protobuf::Duration& d) {
  return static_cast<double>(d.seconds()) + static_cast<double>(d.nanos()) / 1e9;
}

// A double for JSON: NaN and the infinities (a diverged loss) become null.
nlohmann::json Number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

std::string FineTunedName(const v1::Job& job) {
  if (!job.fine_tuned_model().empty()) return job.fine_tuned_model();
  return job.suffix().empty()
             ? absl::StrCat("ft:", job.base_model(), ":", job.id())
             : absl::StrCat("ft:", job.base_model(), ":", job.suffix(), ":", job.id());
}

// The hyperparameters in OpenAI's three names, then every other one that is set.
nlohmann::json HyperparametersJson(const v1::Hyperparameters& h) {
  nlohmann::json out = nlohmann::json::object();
  out["n_epochs"] = h.has_n_epochs() ? nlohmann::json(h.n_epochs()) : nlohmann::json("auto");
  out["batch_size"] = h.has_batch_size() ? nlohmann::json(h.batch_size()) : nlohmann::json("auto");
  if (h.has_learning_rate_multiplier()) {
    out["learning_rate_multiplier"] = h.learning_rate_multiplier();
  } else if (h.has_learning_rate()) {
    out["learning_rate_multiplier"] = h.learning_rate() / 5e-5;
  } else {
    out["learning_rate_multiplier"] = "auto";
  }
  if (h.has_learning_rate()) out["learning_rate"] = h.learning_rate();
  if (h.has_max_steps()) out["max_steps"] = h.max_steps();
  if (h.has_gradient_accumulation_steps()) {
    out["gradient_accumulation_steps"] = h.gradient_accumulation_steps();
  }
  if (h.has_warmup_steps()) out["warmup_steps"] = h.warmup_steps();
  if (h.has_warmup_ratio()) out["warmup_ratio"] = h.warmup_ratio();
  if (h.has_weight_decay()) out["weight_decay"] = h.weight_decay();
  if (h.has_max_grad_norm()) out["max_grad_norm"] = h.max_grad_norm();
  out["lr_scheduler"] = SchedulerName(h.lr_scheduler());
  if (h.has_eval_steps()) out["eval_steps"] = h.eval_steps();
  if (h.has_save_steps()) out["save_steps"] = h.save_steps();
  if (h.has_max_seq_length()) out["max_seq_length"] = h.max_seq_length();
  if (h.has_num_labels()) out["num_labels"] = h.num_labels();
  if (h.labels_size() > 0) {
    out["labels"] = std::vector<std::string>(h.labels().begin(), h.labels().end());
  }
  if (h.has_logging_steps()) out["logging_steps"] = h.logging_steps();
  return out;
}

// A number, or "auto"/null for unset: true when a value was read into *out.
bool ReadNumber(FieldReader& reader, const char* key, double min, double max, bool min_exclusive,
                double* out) {
  const nlohmann::json* value = reader.Find(key);
  if (value == nullptr) return false;
  if (value->is_string() && value->get<std::string>() == "auto") return false;
  if (!value->is_number()) {
    reader.Fail(key, kInvalidType,
                absl::StrCat("'", reader.Param(key), "' must be a number or \"auto\", got ",
                             JsonTypeName(*value)));
    return false;
  }
  const double d = value->get<double>();
  const bool low_ok = min_exclusive ? d > min : d >= min;
  if (!std::isfinite(d) || !low_ok || d > max) {
    reader.Fail(key, kInvalidValue,
                absl::StrCat("'", reader.Param(key), "' must be in ", min_exclusive ? "(" : "[",
                             min, ", ", max, "], got ", d));
    return false;
  }
  *out = d;
  return true;
}

// An integer, or "auto"/null for unset.
std::optional<int64_t> ReadInteger(FieldReader& reader, const char* key, int64_t min, int64_t max) {
  const nlohmann::json* value = reader.Find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string() && value->get<std::string>() == "auto") return std::nullopt;
  return reader.Int(key, min, max);
}

absl::Status ReadHyperparameters(const nlohmann::json& object, const std::string& prefix,
                                 v1::Hyperparameters* h) {
  if (!object.is_object()) {
    return ParamError(prefix.substr(0, prefix.size() - 1), kInvalidType,
                      absl::StrCat("'", prefix.substr(0, prefix.size() - 1),
                                   "' must be an object, got ", JsonTypeName(object)));
  }
  FieldReader r(object, prefix);
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
  // Ranges are the service's to check (its messages name the limits); here only types and
  // what fits the proto's integer widths.
  if (auto v = ReadInteger(r, "n_epochs", 0, kInt32Max)) h->set_n_epochs(static_cast<int32_t>(*v));
  if (auto v = ReadInteger(r, "batch_size", 0, kInt32Max)) {
    h->set_batch_size(static_cast<int32_t>(*v));
  }
  double d = 0;
  if (ReadNumber(r, "learning_rate_multiplier", 0, 1e9, false, &d)) {
    h->set_learning_rate_multiplier(d);
  }
  if (ReadNumber(r, "learning_rate", 0, 1e9, false, &d)) h->set_learning_rate(d);
  if (auto v = ReadInteger(r, "max_steps", 0, kInt64Max)) h->set_max_steps(*v);
  if (auto v = ReadInteger(r, "gradient_accumulation_steps", 0, kInt32Max)) {
    h->set_gradient_accumulation_steps(static_cast<int32_t>(*v));
  }
  if (auto v = ReadInteger(r, "warmup_steps", 0, kInt64Max)) h->set_warmup_steps(*v);
  if (ReadNumber(r, "warmup_ratio", 0, 1e9, false, &d)) h->set_warmup_ratio(d);
  if (ReadNumber(r, "weight_decay", 0, 1e9, false, &d)) h->set_weight_decay(d);
  if (ReadNumber(r, "max_grad_norm", 0, 1e18, false, &d)) h->set_max_grad_norm(d);
  if (auto v = r.String("lr_scheduler")) {
    if (*v == "constant") {
      h->set_lr_scheduler(v1::LR_SCHEDULER_CONSTANT);
    } else if (*v == "linear") {
      h->set_lr_scheduler(v1::LR_SCHEDULER_LINEAR);
    } else if (*v == "cosine") {
      h->set_lr_scheduler(v1::LR_SCHEDULER_COSINE);
    } else if (*v != "auto") {
      r.Fail("lr_scheduler", kInvalidValue,
             absl::StrCat("'", r.Param("lr_scheduler"),
                          "' must be \"constant\", \"linear\" or \"cosine\", got \"", *v, "\""));
    }
  }
  if (auto v = ReadInteger(r, "eval_steps", 0, kInt32Max)) {
    h->set_eval_steps(static_cast<int32_t>(*v));
  }
  if (auto v = ReadInteger(r, "save_steps", 0, kInt32Max)) {
    h->set_save_steps(static_cast<int32_t>(*v));
  }
  if (auto v = ReadInteger(r, "max_seq_length", 0, kInt32Max)) {
    h->set_max_seq_length(static_cast<int32_t>(*v));
  }
  if (auto v = ReadInteger(r, "num_labels", 0, kInt32Max)) {
    h->set_num_labels(static_cast<int32_t>(*v));
  }
  if (auto v = ReadInteger(r, "logging_steps", 0, kInt32Max)) {
    h->set_logging_steps(static_cast<int32_t>(*v));
  }
  if (const nlohmann::json* labels = r.Find("labels")) {
    if (!labels->is_array()) {
      r.Fail("labels", kInvalidType,
             absl::StrCat("'", r.Param("labels"), "' must be an array of strings, got ",
                          JsonTypeName(*labels)));
    } else {
      for (size_t i = 0; i < labels->size(); ++i) {
        if (!(*labels)[i].is_string()) {
          const std::string key = absl::StrCat("labels[", i, "]");
          r.Fail(key, kInvalidType,
                 absl::StrCat("'", r.Param(key), "' must be a string, got ",
                              JsonTypeName((*labels)[i])));
          break;
        }
        h->add_labels((*labels)[i].get<std::string>());
      }
    }
  }
  return r.status();
}

}  // namespace

absl::StatusOr<v1::FilePurpose> FilePurposeFromOpenAi(const std::string& purpose) {
  if (purpose == "fine-tune") return v1::FILE_PURPOSE_FINE_TUNE;
  if (purpose == "fine-tune-validation") return v1::FILE_PURPOSE_FINE_TUNE_VALIDATION;
  return ParamError("purpose", kUnsupportedValue,
                    absl::StrCat("'purpose' must be \"fine-tune\" (or \"fine-tune-validation\"): "
                                 "this server stores files for fine-tuning only; got \"",
                                 purpose, "\""));
}

nlohmann::json FileJson(const v1::File& file) {
  const char* purpose = "fine-tune";
  if (file.purpose() == v1::FILE_PURPOSE_FINE_TUNE_VALIDATION) purpose = "fine-tune-validation";
  if (file.purpose() == v1::FILE_PURPOSE_FINE_TUNE_RESULTS) purpose = "fine-tune-results";
  return {{"object", "file"},
          {"id", file.id()},
          {"bytes", file.bytes()},
          {"created_at", file.created_at().seconds()},
          {"filename", file.filename()},
          {"purpose", purpose},
          {"status", "processed"},
          {"status_details", nullptr},
          {"expires_at", nullptr},
          {"sha256", file.sha256()},
          {"line_count", file.line_count()}};
}

absl::StatusOr<v1::CreateJobRequest> ParseCreateFineTuningJob(const nlohmann::json& body) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, got ", JsonTypeName(body)));
  }
  try {
    v1::CreateJobRequest out;
    FieldReader reader(body);
    auto required_string = [&](const char* key, std::string* into) {
      const nlohmann::json* value = reader.Require(key);
      if (value == nullptr) return;
      if (!value->is_string() || value->get_ref<const std::string&>().empty()) {
        reader.Fail(key, value->is_string() ? kInvalidValue : kInvalidType,
                    absl::StrCat("'", key, "' must be a non-empty string, got ",
                                 value->is_string() ? "an empty string" : JsonTypeName(*value)));
        return;
      }
      *into = value->get<std::string>();
    };
    required_string("model", out.mutable_base_model());
    required_string("training_file", out.mutable_training_file());
    if (auto v = reader.String("validation_file")) out.set_validation_file(*v);
    if (auto v = reader.String("suffix")) out.set_suffix(*v);
    if (const nlohmann::json* seed = reader.Find("seed")) {
      if (seed->is_number_unsigned()) {
        out.mutable_hyperparameters()->set_seed(seed->get<uint64_t>());
      } else if (auto v = reader.Int("seed", 0, std::numeric_limits<int64_t>::max())) {
        out.mutable_hyperparameters()->set_seed(static_cast<uint64_t>(*v));
      }
    }
    if (auto v = reader.String("task")) {
      if (*v == "sequence_classification") {
        out.set_task(v1::JOB_TASK_SEQUENCE_CLASSIFICATION);
      } else if (*v == "causal_lm") {
        out.set_task(v1::JOB_TASK_CAUSAL_LM);
      } else {
        reader.Fail("task", kInvalidValue,
                    absl::StrCat("'task' must be \"sequence_classification\" or \"causal_lm\", "
                                 "got \"",
                                 *v, "\""));
      }
    }
    if (const nlohmann::json* metadata = reader.Find("metadata")) {
      if (!metadata->is_object()) {
        reader.Fail(
            "metadata", kInvalidType,
            absl::StrCat("'metadata' must be an object of strings, got ", JsonTypeName(*metadata)));
      } else {
        for (const auto& [key, value] : metadata->items()) {
          if (!value.is_string()) {
            reader.Fail(
                absl::StrCat("metadata.", key), kInvalidType,
                absl::StrCat("'metadata.", key, "' must be a string, got ", JsonTypeName(value)));
            break;
          }
          (*out.mutable_metadata())[key] = value.get<std::string>();
        }
      }
    }
    if (const nlohmann::json* integrations = reader.Find("integrations")) {
      if (!integrations->is_array() || !integrations->empty()) {
        reader.Fail("integrations", kUnsupportedParameter,
                    "'integrations' are not supported by this server");
      }
    }
    const nlohmann::json* hyperparameters = reader.Find("hyperparameters");
    if (hyperparameters != nullptr) {
      reader.Fail(
          ReadHyperparameters(*hyperparameters, "hyperparameters.", out.mutable_hyperparameters()));
    }
    if (const nlohmann::json* method = reader.Find("method")) {
      if (!method->is_object()) {
        reader.Fail("method", kInvalidType,
                    absl::StrCat("'method' must be an object, got ", JsonTypeName(*method)));
      } else {
        FieldReader m(*method, "method.");
        if (auto type = m.String("type"); type && *type != "supervised") {
          m.Fail("type", kUnsupportedValue,
                 absl::StrCat("'method.type' \"", *type,
                              "\" is not supported; this server fine-tunes with \"supervised\""));
        }
        if (const nlohmann::json* supervised = m.Find("supervised")) {
          if (!supervised->is_object()) {
            m.Fail("supervised", kInvalidType, "'method.supervised' must be an object");
          } else if (auto it = supervised->find("hyperparameters");
                     it != supervised->end() && !it->is_null()) {
            if (hyperparameters != nullptr) {
              m.Fail("supervised.hyperparameters", kInvalidValue,
                     "give hyperparameters either at the top level or under "
                     "method.supervised, not both");
            } else {
              m.Fail(ReadHyperparameters(*it, "method.supervised.hyperparameters.",
                                         out.mutable_hyperparameters()));
            }
          }
        }
        reader.Fail(m.status());
      }
    }
    if (!reader.ok()) return reader.status();
    return out;
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(absl::StrCat("reading the request failed: ", e.what()));
  }
}

nlohmann::json FineTuningJobJson(const v1::Job& job) {
  nlohmann::json error;
  if (job.has_error()) {
    nlohmann::json param;
    if (job.error().code() == "invalid_file") {
      param = !job.validation_file().empty() &&
                      absl::StrContains(job.error().message(), job.validation_file())
                  ? "validation_file"
                  : "training_file";
    }
    error = {{"code", job.error().code()}, {"message", job.error().message()}, {"param", param}};
    if (job.error().has_line()) error["line"] = job.error().line();
  }
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& [key, value] : job.metadata()) metadata[key] = value;
  nlohmann::json hyperparameters = HyperparametersJson(job.hyperparameters());
  nlohmann::json out = {
      {"object", "fine_tuning.job"},
      {"id", job.id()},
      {"model", job.base_model()},
      {"created_at", job.created_at().seconds()},
      {"finished_at", SecondsOrNull(job.finished_at(), job.has_finished_at())},
      {"fine_tuned_model",
       job.fine_tuned_model().empty() ? nlohmann::json() : nlohmann::json(job.fine_tuned_model())},
      {"organization_id", "trustformers"},
      {"result_files",
       std::vector<std::string>(job.result_files().begin(), job.result_files().end())},
      {"status", StatusName(job.state())},
      {"training_file", job.training_file()},
      {"validation_file",
       job.validation_file().empty() ? nlohmann::json() : nlohmann::json(job.validation_file())},
      {"hyperparameters", hyperparameters},
      {"method", {{"type", "supervised"}, {"supervised", {{"hyperparameters", hyperparameters}}}}},
      {"trained_tokens", job.trained_tokens()},
      {"error", error},
      {"seed", job.seed()},
      {"estimated_finish", SecondsOrNull(job.estimated_finish(), job.has_estimated_finish())},
      {"integrations", nlohmann::json::array()},
      {"metadata", job.metadata().empty() ? nlohmann::json() : metadata},
      {"suffix", job.suffix().empty() ? nlohmann::json() : nlohmann::json(job.suffix())},
      {"task", job.task() == v1::JOB_TASK_CAUSAL_LM ? "causal_lm" : "sequence_classification"},
      {"started_at", SecondsOrNull(job.started_at(), job.has_started_at())}};
  if (job.has_progress()) {
    const v1::Progress& p = job.progress();
    out["progress"] = {{"step", p.step()},
                       {"total_steps", p.total_steps()},
                       {"epoch", Number(p.epoch())},
                       {"train_loss", Number(p.train_loss())},
                       {"learning_rate", Number(p.learning_rate())},
                       {"samples_per_second", Number(p.samples_per_second())},
                       {"eta_seconds", Number(Seconds(p.eta()))}};
  }
  return out;
}

std::string EventId(const std::string& job_id, int64_t sequence) {
  return absl::StrCat(kEventPrefix, job_id, "-", sequence);
}

std::optional<int64_t> EventSequence(const std::string& job_id, const std::string& event_id) {
  const std::string prefix = absl::StrCat(kEventPrefix, job_id, "-");
  if (!absl::StartsWith(event_id, prefix)) return std::nullopt;
  int64_t sequence = 0;
  if (!absl::SimpleAtoi(absl::string_view(event_id).substr(prefix.size()), &sequence) ||
      sequence < 1) {
    return std::nullopt;
  }
  return sequence;
}

nlohmann::json FineTuningEventJson(const v1::JobEvent& event) {
  std::string type = "message";
  nlohmann::json data;
  switch (event.payload_case()) {
    case v1::JobEvent::kStateChange: {
      const v1::StateChange& s = event.state_change();
      data = {{"from", s.from_state() == v1::JOB_STATE_UNSPECIFIED
                           ? nlohmann::json()
                           : nlohmann::json(StatusName(s.from_state()))},
              {"to", StatusName(s.to_state())},
              {"reason", s.reason()}};
      break;
    }
    case v1::JobEvent::kTrainingStep: {
      const v1::TrainingStep& s = event.training_step();
      type = "metrics";
      data = {{"step", s.step()},
              {"total_steps", s.total_steps()},
              {"epoch", Number(s.epoch())},
              {"train_loss", Number(s.loss())},
              {"learning_rate", Number(s.learning_rate())},
              {"grad_norm", Number(s.grad_norm())},
              {"samples_per_second", Number(s.samples_per_second())},
              {"eta_seconds", Number(Seconds(s.eta()))}};
      break;
    }
    case v1::JobEvent::kEvaluation: {
      const v1::Evaluation& e = event.evaluation();
      type = "metrics";
      data = {{"step", e.step()}, {"epoch", Number(e.epoch())}};
      for (const auto& [name, value] : e.metrics()) {
        data[absl::StrCat("valid_", name)] = Number(value);
        if (name == "loss") data["full_valid_loss"] = Number(value);
      }
      break;
    }
    case v1::JobEvent::kCheckpointSaved: {
      const v1::Checkpoint& c = event.checkpoint_saved();
      data = {{"checkpoint", c.id()}, {"step", c.step()}, {"epoch", Number(c.epoch())}};
      break;
    }
    case v1::JobEvent::kFileValidation: {
      nlohmann::json issues = nlohmann::json::array();
      for (const v1::ValidationIssue& issue : event.file_validation().issues()) {
        issues.push_back({{"line", issue.line()},
                          {"message", issue.message()},
                          {"level", LevelName(issue.level())}});
      }
      data = {{"file_id", event.file_validation().file_id()}, {"issues", std::move(issues)}};
      break;
    }
    case v1::JobEvent::PAYLOAD_NOT_SET:
      data = nlohmann::json::object();
      break;
  }
  return {{"object", "fine_tuning.job.event"},
          {"id", EventId(event.job_id(), event.sequence())},
          {"created_at", event.created_at().seconds()},
          {"level", LevelName(event.level())},
          {"message", event.message()},
          {"type", type},
          {"data", std::move(data)},
          {"sequence", event.sequence()}};
}

nlohmann::json CheckpointJson(const v1::Job& job, const v1::Checkpoint& checkpoint) {
  nlohmann::json metrics = {{"step", checkpoint.step()}};
  for (const auto& [name, value] : checkpoint.metrics()) {
    metrics[name] = Number(value);
    if (name == "eval_loss") {
      metrics["valid_loss"] = Number(value);
      metrics["full_valid_loss"] = Number(value);
    }
  }
  return {{"object", "fine_tuning.job.checkpoint"},
          {"id", checkpoint.id()},
          {"created_at", checkpoint.created_at().seconds()},
          {"fine_tuned_model_checkpoint",
           absl::StrCat(FineTunedName(job), ":ckpt-step-", checkpoint.step())},
          {"fine_tuning_job_id", job.id()},
          {"metrics", std::move(metrics)},
          {"step_number", checkpoint.step()},
          {"path", checkpoint.path()}};
}

}  // namespace trustformers::server::openai
