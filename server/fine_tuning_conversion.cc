#include "server/fine_tuning_conversion.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/jobs/job_settings.h"

namespace trustformers::server {
namespace {

void MillisToTimestamp(int64_t ms, google::protobuf::Timestamp* out) {
  // Floor division, so times before 1970 keep nanos in [0, 1e9).
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1'000'000));
}

int64_t TimestampToMillis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1'000'000;
}

// Sets `*field` from `ms` when it is non-zero.
template <class SetTime>
void MaybeTime(int64_t ms, SetTime mutable_field) {
  if (ms != 0) MillisToTimestamp(ms, mutable_field());
}

void SecondsToDuration(double seconds, google::protobuf::Duration* out) {
  if (!std::isfinite(seconds)) seconds = 0;
  // Durations hold at most 10,000 years.
  seconds = std::clamp(seconds, -315'576'000'000.0, 315'576'000'000.0);
  const double whole = std::trunc(seconds);
  out->set_seconds(static_cast<int64_t>(whole));
  out->set_nanos(static_cast<int32_t>(std::llround((seconds - whole) * 1e9)));
  if (out->nanos() >= 1'000'000'000 || out->nanos() <= -1'000'000'000) {
    out->set_seconds(out->seconds() + out->nanos() / 1'000'000'000);
    out->set_nanos(out->nanos() % 1'000'000'000);
  }
}

double DurationToSeconds(const google::protobuf::Duration& d) {
  return static_cast<double>(d.seconds()) + static_cast<double>(d.nanos()) / 1e9;
}

v1::LrScheduler ScheduleToProto(jobs::LrSchedule schedule) {
  switch (schedule) {
    case jobs::LrSchedule::kUnspecified:
      return v1::LR_SCHEDULER_UNSPECIFIED;
    case jobs::LrSchedule::kConstant:
      return v1::LR_SCHEDULER_CONSTANT;
    case jobs::LrSchedule::kLinear:
      return v1::LR_SCHEDULER_LINEAR;
    case jobs::LrSchedule::kCosine:
      return v1::LR_SCHEDULER_COSINE;
  }
  return v1::LR_SCHEDULER_UNSPECIFIED;
}

jobs::LrSchedule ScheduleFromProto(v1::LrScheduler schedule) {
  switch (schedule) {
    case v1::LR_SCHEDULER_CONSTANT:
      return jobs::LrSchedule::kConstant;
    case v1::LR_SCHEDULER_LINEAR:
      return jobs::LrSchedule::kLinear;
    case v1::LR_SCHEDULER_COSINE:
      return jobs::LrSchedule::kCosine;
    default:
      return jobs::LrSchedule::kUnspecified;
  }
}

void ErrorToProto(const jobs::JobError& error, v1::JobError* out) {
  out->set_code(error.code);
  out->set_message(error.message);
  if (error.line) out->set_line(*error.line);
}

jobs::JobError ErrorFromProto(const v1::JobError& error) {
  jobs::JobError out;
  out.code = error.code();
  out.message = error.message();
  if (error.has_line()) out.line = error.line();
  return out;
}

void ProgressToProto(const jobs::Progress& p, v1::Progress* out) {
  out->set_step(p.step);
  out->set_total_steps(p.total_steps);
  out->set_epoch(p.epoch);
  out->set_train_loss(p.train_loss);
  out->set_learning_rate(p.learning_rate);
  out->set_samples_per_second(p.samples_per_second);
  SecondsToDuration(p.eta_seconds, out->mutable_eta());
}

jobs::Progress ProgressFromProto(const v1::Progress& p) {
  jobs::Progress out;
  out.step = p.step();
  out.total_steps = p.total_steps();
  out.epoch = p.epoch();
  out.train_loss = p.train_loss();
  out.learning_rate = p.learning_rate();
  out.samples_per_second = p.samples_per_second();
  out.eta_seconds = DurationToSeconds(p.eta());
  return out;
}

}  // namespace

v1::FilePurpose PurposeToProto(jobs::FilePurpose purpose) {
  switch (purpose) {
    case jobs::FilePurpose::kFineTune:
      return v1::FILE_PURPOSE_FINE_TUNE;
    case jobs::FilePurpose::kFineTuneValidation:
      return v1::FILE_PURPOSE_FINE_TUNE_VALIDATION;
    case jobs::FilePurpose::kFineTuneResults:
      return v1::FILE_PURPOSE_FINE_TUNE_RESULTS;
  }
  return v1::FILE_PURPOSE_UNSPECIFIED;
}

absl::StatusOr<jobs::FilePurpose> PurposeFromProto(v1::FilePurpose purpose) {
  switch (purpose) {
    case v1::FILE_PURPOSE_FINE_TUNE:
      return jobs::FilePurpose::kFineTune;
    case v1::FILE_PURPOSE_FINE_TUNE_VALIDATION:
      return jobs::FilePurpose::kFineTuneValidation;
    case v1::FILE_PURPOSE_FINE_TUNE_RESULTS:
      return jobs::FilePurpose::kFineTuneResults;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("purpose must be FILE_PURPOSE_FINE_TUNE or "
                       "FILE_PURPOSE_FINE_TUNE_VALIDATION, got ",
                       v1::FilePurpose_Name(purpose).empty() ? absl::StrCat(purpose)
                                                             : v1::FilePurpose_Name(purpose)));
  }
}

v1::JobState StateToProto(jobs::JobState state) {
  switch (state) {
    case jobs::JobState::kValidatingFiles:
      return v1::JOB_STATE_VALIDATING_FILES;
    case jobs::JobState::kQueued:
      return v1::JOB_STATE_QUEUED;
    case jobs::JobState::kRunning:
      return v1::JOB_STATE_RUNNING;
    case jobs::JobState::kSucceeded:
      return v1::JOB_STATE_SUCCEEDED;
    case jobs::JobState::kFailed:
      return v1::JOB_STATE_FAILED;
    case jobs::JobState::kCancelled:
      return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

absl::StatusOr<jobs::JobState> StateFromProto(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_VALIDATING_FILES:
      return jobs::JobState::kValidatingFiles;
    case v1::JOB_STATE_QUEUED:
      return jobs::JobState::kQueued;
    case v1::JOB_STATE_RUNNING:
      return jobs::JobState::kRunning;
    case v1::JOB_STATE_SUCCEEDED:
      return jobs::JobState::kSucceeded;
    case v1::JOB_STATE_FAILED:
      return jobs::JobState::kFailed;
    case v1::JOB_STATE_CANCELLED:
      return jobs::JobState::kCancelled;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "a job state must be one of VALIDATING_FILES, QUEUED, RUNNING, SUCCEEDED, FAILED or "
          "CANCELLED, got ",
          v1::JobState_Name(state).empty() ? absl::StrCat(state) : v1::JobState_Name(state)));
  }
}

v1::JobTask TaskToProto(jobs::JobTask task) {
  switch (task) {
    case jobs::JobTask::kSequenceClassification:
      return v1::JOB_TASK_SEQUENCE_CLASSIFICATION;
    case jobs::JobTask::kCausalLm:
      return v1::JOB_TASK_CAUSAL_LM;
  }
  return v1::JOB_TASK_UNSPECIFIED;
}

absl::StatusOr<jobs::JobTask> TaskFromProto(v1::JobTask task) {
  switch (task) {
    case v1::JOB_TASK_UNSPECIFIED:
    case v1::JOB_TASK_SEQUENCE_CLASSIFICATION:
      return jobs::JobTask::kSequenceClassification;
    case v1::JOB_TASK_CAUSAL_LM:
      return jobs::JobTask::kCausalLm;
    default:
      return absl::InvalidArgumentError(absl::StrCat("task: unknown value ", task));
  }
}

v1::EventLevel LevelToProto(jobs::EventLevel level) {
  switch (level) {
    case jobs::EventLevel::kInfo:
      return v1::EVENT_LEVEL_INFO;
    case jobs::EventLevel::kWarn:
      return v1::EVENT_LEVEL_WARN;
    case jobs::EventLevel::kError:
      return v1::EVENT_LEVEL_ERROR;
  }
  return v1::EVENT_LEVEL_UNSPECIFIED;
}

jobs::EventLevel LevelFromProto(v1::EventLevel level) {
  switch (level) {
    case v1::EVENT_LEVEL_WARN:
      return jobs::EventLevel::kWarn;
    case v1::EVENT_LEVEL_ERROR:
      return jobs::EventLevel::kError;
    default:
      return jobs::EventLevel::kInfo;
  }
}

void FileToProto(const jobs::StoredFile& file, v1::File* out) {
  out->set_id(file.id);
  out->set_filename(file.filename);
  out->set_purpose(PurposeToProto(file.purpose));
  out->set_bytes(file.bytes);
  out->set_sha256(file.sha256);
  MaybeTime(file.created_at_ms, [&] { return out->mutable_created_at(); });
  out->set_line_count(file.line_count);
}

absl::StatusOr<jobs::StoredFile> FileFromProto(const v1::File& file) {
  absl::StatusOr<jobs::FilePurpose> purpose = PurposeFromProto(file.purpose());
  if (!purpose.ok()) return purpose.status();
  jobs::StoredFile out;
  out.id = file.id();
  out.filename = file.filename();
  out.purpose = *purpose;
  out.bytes = file.bytes();
  out.sha256 = file.sha256();
  if (file.has_created_at()) out.created_at_ms = TimestampToMillis(file.created_at());
  out.line_count = file.line_count();
  return out;
}

void HyperparametersToProto(const jobs::Hyperparameters& h, v1::Hyperparameters* out) {
  if (h.n_epochs) out->set_n_epochs(*h.n_epochs);
  if (h.max_steps) out->set_max_steps(*h.max_steps);
  if (h.batch_size) out->set_batch_size(*h.batch_size);
  if (h.gradient_accumulation_steps) {
    out->set_gradient_accumulation_steps(*h.gradient_accumulation_steps);
  }
  if (h.learning_rate) out->set_learning_rate(*h.learning_rate);
  if (h.learning_rate_multiplier) out->set_learning_rate_multiplier(*h.learning_rate_multiplier);
  if (h.warmup_steps) out->set_warmup_steps(*h.warmup_steps);
  if (h.warmup_ratio) out->set_warmup_ratio(*h.warmup_ratio);
  if (h.weight_decay) out->set_weight_decay(*h.weight_decay);
  if (h.max_grad_norm) out->set_max_grad_norm(*h.max_grad_norm);
  out->set_lr_scheduler(ScheduleToProto(h.lr_scheduler));
  if (h.seed) out->set_seed(*h.seed);
  if (h.eval_steps) out->set_eval_steps(*h.eval_steps);
  if (h.save_steps) out->set_save_steps(*h.save_steps);
  if (h.max_seq_length) out->set_max_seq_length(*h.max_seq_length);
  if (h.num_labels) out->set_num_labels(*h.num_labels);
  for (const std::string& label : h.labels) out->add_labels(label);
  if (h.logging_steps) out->set_logging_steps(*h.logging_steps);
}

jobs::Hyperparameters HyperparametersFromProto(const v1::Hyperparameters& h) {
  jobs::Hyperparameters out;
  if (h.has_n_epochs()) out.n_epochs = h.n_epochs();
  if (h.has_max_steps()) out.max_steps = h.max_steps();
  if (h.has_batch_size()) out.batch_size = h.batch_size();
  if (h.has_gradient_accumulation_steps()) {
    out.gradient_accumulation_steps = h.gradient_accumulation_steps();
  }
  if (h.has_learning_rate()) out.learning_rate = h.learning_rate();
  if (h.has_learning_rate_multiplier()) out.learning_rate_multiplier = h.learning_rate_multiplier();
  if (h.has_warmup_steps()) out.warmup_steps = h.warmup_steps();
  if (h.has_warmup_ratio()) out.warmup_ratio = h.warmup_ratio();
  if (h.has_weight_decay()) out.weight_decay = h.weight_decay();
  if (h.has_max_grad_norm()) out.max_grad_norm = h.max_grad_norm();
  out.lr_scheduler = ScheduleFromProto(h.lr_scheduler());
  if (h.has_seed()) out.seed = h.seed();
  if (h.has_eval_steps()) out.eval_steps = h.eval_steps();
  if (h.has_save_steps()) out.save_steps = h.save_steps();
  if (h.has_max_seq_length()) out.max_seq_length = h.max_seq_length();
  if (h.has_num_labels()) out.num_labels = h.num_labels();
  out.labels.assign(h.labels().begin(), h.labels().end());
  if (h.has_logging_steps()) out.logging_steps = h.logging_steps();
  return out;
}

jobs::Hyperparameters InEffect(const jobs::Hyperparameters& h, uint64_t seed) {
  jobs::Hyperparameters out = h;
  if (!out.max_steps && !out.n_epochs) out.n_epochs = jobs::kDefaultEpochs;
  if (!out.batch_size) out.batch_size = jobs::kDefaultBatchSize;
  if (!out.gradient_accumulation_steps) out.gradient_accumulation_steps = 1;
  if (!out.learning_rate) {
    out.learning_rate = jobs::kDefaultLearningRate * out.learning_rate_multiplier.value_or(1.0);
  }
  if (!out.warmup_steps && !out.warmup_ratio) out.warmup_steps = 0;
  if (!out.weight_decay) out.weight_decay = 0.0;
  if (!out.max_grad_norm) out.max_grad_norm = 1.0;
  if (out.lr_scheduler == jobs::LrSchedule::kUnspecified) {
    out.lr_scheduler = jobs::LrSchedule::kLinear;
  }
  out.seed = seed;
  if (!out.logging_steps) out.logging_steps = jobs::kDefaultLoggingSteps;
  return out;
}

absl::StatusOr<jobs::Job> JobRequestFromProto(const v1::CreateJobRequest& request) {
  absl::StatusOr<jobs::JobTask> task = TaskFromProto(request.task());
  if (!task.ok()) return task.status();
  jobs::Job job;
  job.base_model = request.base_model();
  job.training_file = request.training_file();
  job.validation_file = request.validation_file();
  job.task = *task;
  job.hyperparameters = HyperparametersFromProto(request.hyperparameters());
  job.suffix = request.suffix();
  job.metadata.insert(request.metadata().begin(), request.metadata().end());
  job.idempotency_key = request.idempotency_key();
  return job;
}

void CheckpointToProto(const jobs::CheckpointInfo& checkpoint, v1::Checkpoint* out) {
  out->set_id(checkpoint.id);
  out->set_step(checkpoint.step);
  out->set_epoch(checkpoint.epoch);
  MaybeTime(checkpoint.created_at_ms, [&] { return out->mutable_created_at(); });
  out->mutable_metrics()->insert(checkpoint.metrics.begin(), checkpoint.metrics.end());
  out->set_path(checkpoint.path);
}

jobs::CheckpointInfo CheckpointFromProto(const v1::Checkpoint& checkpoint) {
  jobs::CheckpointInfo out;
  out.id = checkpoint.id();
  out.step = checkpoint.step();
  out.epoch = checkpoint.epoch();
  if (checkpoint.has_created_at()) out.created_at_ms = TimestampToMillis(checkpoint.created_at());
  out.metrics.insert(checkpoint.metrics().begin(), checkpoint.metrics().end());
  out.path = checkpoint.path();
  return out;
}

void JobToProto(const jobs::Job& job, v1::Job* out) {
  out->set_id(job.id);
  out->set_base_model(job.base_model);
  out->set_fine_tuned_model(job.fine_tuned_model);
  out->set_state(StateToProto(job.state));
  out->set_task(TaskToProto(job.task));
  out->set_training_file(job.training_file);
  out->set_validation_file(job.validation_file);
  HyperparametersToProto(InEffect(job.hyperparameters, job.seed), out->mutable_hyperparameters());
  MaybeTime(job.created_at_ms, [&] { return out->mutable_created_at(); });
  MaybeTime(job.started_at_ms, [&] { return out->mutable_started_at(); });
  MaybeTime(job.finished_at_ms, [&] { return out->mutable_finished_at(); });
  MaybeTime(job.estimated_finish_ms, [&] { return out->mutable_estimated_finish(); });
  if (job.error) ErrorToProto(*job.error, out->mutable_error());
  if (job.progress.total_steps > 0) ProgressToProto(job.progress, out->mutable_progress());
  out->set_trained_tokens(job.trained_tokens);
  for (const std::string& id : job.result_files) out->add_result_files(id);
  for (const jobs::CheckpointInfo& c : job.checkpoints)
    CheckpointToProto(c, out->add_checkpoints());
  out->set_seed(job.seed);
  out->mutable_metadata()->insert(job.metadata.begin(), job.metadata.end());
  out->set_suffix(job.suffix);
}

absl::StatusOr<jobs::Job> JobFromProto(const v1::Job& job) {
  absl::StatusOr<jobs::JobState> state = StateFromProto(job.state());
  if (!state.ok()) return state.status();
  absl::StatusOr<jobs::JobTask> task = TaskFromProto(job.task());
  if (!task.ok()) return task.status();
  jobs::Job out;
  out.id = job.id();
  out.base_model = job.base_model();
  out.fine_tuned_model = job.fine_tuned_model();
  out.state = *state;
  out.task = *task;
  out.training_file = job.training_file();
  out.validation_file = job.validation_file();
  out.hyperparameters = HyperparametersFromProto(job.hyperparameters());
  if (job.has_created_at()) out.created_at_ms = TimestampToMillis(job.created_at());
  if (job.has_started_at()) out.started_at_ms = TimestampToMillis(job.started_at());
  if (job.has_finished_at()) out.finished_at_ms = TimestampToMillis(job.finished_at());
  if (job.has_estimated_finish()) {
    out.estimated_finish_ms = TimestampToMillis(job.estimated_finish());
  }
  if (job.has_error()) out.error = ErrorFromProto(job.error());
  if (job.has_progress()) out.progress = ProgressFromProto(job.progress());
  out.trained_tokens = job.trained_tokens();
  out.result_files.assign(job.result_files().begin(), job.result_files().end());
  for (const v1::Checkpoint& c : job.checkpoints()) {
    out.checkpoints.push_back(CheckpointFromProto(c));
  }
  out.seed = job.seed();
  out.metadata.insert(job.metadata().begin(), job.metadata().end());
  out.suffix = job.suffix();
  return out;
}

void EventToProto(const jobs::JobEvent& event, v1::JobEvent* out) {
  out->set_job_id(event.job_id);
  out->set_sequence(event.sequence);
  MaybeTime(event.created_at_ms, [&] { return out->mutable_created_at(); });
  out->set_level(LevelToProto(event.level));
  out->set_message(event.message);
  if (event.state_change) {
    v1::StateChange* s = out->mutable_state_change();
    s->set_from_state(event.state_change->from ? StateToProto(*event.state_change->from)
                                               : v1::JOB_STATE_UNSPECIFIED);
    s->set_to_state(StateToProto(event.state_change->to));
    s->set_reason(event.state_change->reason);
  } else if (event.training_step) {
    const jobs::TrainingStep& t = *event.training_step;
    v1::TrainingStep* s = out->mutable_training_step();
    s->set_step(t.step);
    s->set_total_steps(t.total_steps);
    s->set_epoch(t.epoch);
    s->set_loss(t.loss);
    s->set_learning_rate(t.learning_rate);
    s->set_grad_norm(t.grad_norm);
    s->set_samples_per_second(t.samples_per_second);
    SecondsToDuration(t.eta_seconds, s->mutable_eta());
  } else if (event.evaluation) {
    v1::Evaluation* e = out->mutable_evaluation();
    e->set_step(event.evaluation->step);
    e->set_epoch(event.evaluation->epoch);
    e->mutable_metrics()->insert(event.evaluation->metrics.begin(),
                                 event.evaluation->metrics.end());
  } else if (event.checkpoint_saved) {
    CheckpointToProto(*event.checkpoint_saved, out->mutable_checkpoint_saved());
  } else if (event.file_validation) {
    v1::FileValidation* v = out->mutable_file_validation();
    v->set_file_id(event.file_validation->file_id);
    for (const jobs::ValidationIssue& issue : event.file_validation->issues) {
      v1::ValidationIssue* i = v->add_issues();
      i->set_line(issue.line);
      i->set_message(issue.message);
      i->set_level(LevelToProto(issue.level));
    }
  }
}

absl::StatusOr<jobs::JobEvent> EventFromProto(const v1::JobEvent& event) {
  jobs::JobEvent out;
  out.job_id = event.job_id();
  out.sequence = event.sequence();
  if (event.has_created_at()) out.created_at_ms = TimestampToMillis(event.created_at());
  out.level = LevelFromProto(event.level());
  out.message = event.message();
  switch (event.payload_case()) {
    case v1::JobEvent::kStateChange: {
      jobs::StateChange change;
      if (event.state_change().from_state() != v1::JOB_STATE_UNSPECIFIED) {
        absl::StatusOr<jobs::JobState> from = StateFromProto(event.state_change().from_state());
        if (!from.ok()) return from.status();
        change.from = *from;
      }
      absl::StatusOr<jobs::JobState> to = StateFromProto(event.state_change().to_state());
      if (!to.ok()) return to.status();
      change.to = *to;
      change.reason = event.state_change().reason();
      out.state_change = std::move(change);
      break;
    }
    case v1::JobEvent::kTrainingStep: {
      const v1::TrainingStep& s = event.training_step();
      out.training_step = jobs::TrainingStep{s.step(),
                                             s.total_steps(),
                                             s.epoch(),
                                             s.loss(),
                                             s.learning_rate(),
                                             s.grad_norm(),
                                             s.samples_per_second(),
                                             DurationToSeconds(s.eta())};
      break;
    }
    case v1::JobEvent::kEvaluation: {
      jobs::Evaluation e;
      e.step = event.evaluation().step();
      e.epoch = event.evaluation().epoch();
      e.metrics.insert(event.evaluation().metrics().begin(), event.evaluation().metrics().end());
      out.evaluation = std::move(e);
      break;
    }
    case v1::JobEvent::kCheckpointSaved:
      out.checkpoint_saved = CheckpointFromProto(event.checkpoint_saved());
      break;
    case v1::JobEvent::kFileValidation: {
      jobs::FileValidation v;
      v.file_id = event.file_validation().file_id();
      for (const v1::ValidationIssue& issue : event.file_validation().issues()) {
        v.issues.push_back({issue.line(), issue.message(), LevelFromProto(issue.level())});
      }
      out.file_validation = std::move(v);
      break;
    }
    case v1::JobEvent::PAYLOAD_NOT_SET:
      break;
  }
  return out;
}

}  // namespace trustformers::server
