#include "engine/jobs/job_manager.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/ops.h"
#include "engine/jobs/job_settings.h"
#include "engine/training/fine_tune.h"
#include "engine/training/line_error.h"
#include "engine/training/text_dataset.h"
#include "engine/training/trainer.h"
#include "models/nn/durable_file.h"
#include "tokenizers/tokenizer.h"

namespace trustformers::jobs {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxIssues = 100;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t RandomU64() {
  static std::mutex mutex;
  static std::random_device device;
  std::lock_guard lock(mutex);
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string RandomHex(int chars) {
  std::string out;
  while (static_cast<int>(out.size()) < chars) {
    out += absl::StrCat(absl::Hex(RandomU64(), absl::kZeroPad16));
  }
  return out.substr(0, static_cast<size_t>(chars));
}

bool ValidSuffix(const std::string& suffix) {
  if (suffix.size() > 40) return false;
  return std::all_of(suffix.begin(), suffix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool SameHyperparameters(const Hyperparameters& a, const Hyperparameters& b) {
  return a.n_epochs == b.n_epochs && a.max_steps == b.max_steps && a.batch_size == b.batch_size &&
         a.gradient_accumulation_steps == b.gradient_accumulation_steps &&
         a.learning_rate == b.learning_rate &&
         a.learning_rate_multiplier == b.learning_rate_multiplier &&
         a.warmup_steps == b.warmup_steps && a.warmup_ratio == b.warmup_ratio &&
         a.weight_decay == b.weight_decay && a.max_grad_norm == b.max_grad_norm &&
         a.lr_scheduler == b.lr_scheduler && a.seed == b.seed && a.eval_steps == b.eval_steps &&
         a.save_steps == b.save_steps && a.max_seq_length == b.max_seq_length &&
         a.num_labels == b.num_labels && a.labels == b.labels && a.logging_steps == b.logging_steps;
}

bool SameRequest(const Job& a, const Job& b) {
  return a.base_model == b.base_model && a.training_file == b.training_file &&
         a.validation_file == b.validation_file && a.task == b.task && a.suffix == b.suffix &&
         a.metadata == b.metadata && SameHyperparameters(a.hyperparameters, b.hyperparameters);
}

JobEvent Message(EventLevel level, std::string message) {
  JobEvent event;
  event.level = level;
  event.message = std::move(message);
  return event;
}

// The labels a job trains with, as CreateJobRequest's Hyperparameters.labels documents.
training::LabelSpec LabelSpecFor(const Hyperparameters& h, const BaseModel& base) {
  training::LabelSpec spec;
  if (!h.labels.empty()) {
    spec.names = h.labels;
  } else if (h.num_labels) {
    if (static_cast<size_t>(*h.num_labels) == base.head_labels.size()) {
      spec.names = base.head_labels;
    } else {
      spec.count = *h.num_labels;
    }
  } else if (!base.head_labels.empty()) {
    spec.names = base.head_labels;
  }
  return spec;
}

struct JobData {
  std::optional<training::LabelSet> labels;
  std::shared_ptr<const nn::Dataset> train;
  std::shared_ptr<const nn::Dataset> eval;
  std::vector<int64_t> truncated_train, truncated_eval;
};

}  // namespace

JobManager::JobManager(JobManagerOptions options, JobStore* store, FileStore* files,
                       JobManagerHooks hooks)
    : options_(std::move(options)), store_(store), files_(files), hooks_(std::move(hooks)) {}

JobManager::~JobManager() { Shutdown(); }

std::string JobManager::FineTunedModelName(const Job& job) {
  return job.suffix.empty() ? absl::StrCat("ft:", job.base_model, ":", job.id)
                            : absl::StrCat("ft:", job.base_model, ":", job.suffix, ":", job.id);
}

absl::Status JobManager::Start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return absl::OkStatus();
  }
  // Jobs a previous process left unfinished, oldest first.
  for (JobState state : {JobState::kRunning, JobState::kQueued, JobState::kValidatingFiles}) {
    absl::StatusOr<std::vector<Job>> found = store_->JobsInStates({state});
    if (!found.ok()) return found.status();
    std::sort(found->begin(), found->end(),
              [](const Job& a, const Job& b) { return a.created_at_ms < b.created_at_ms; });
    for (Job& job : *found) {
      if (state == JobState::kRunning) {
        Record(job.id,
               Message(EventLevel::kWarn,
                       "the server restarted during training: the job resumes from its newest "
                       "complete checkpoint"),
               nullptr);
      }
      std::lock_guard lock(mutex_);
      (state == JobState::kValidatingFiles ? to_validate_ : to_run_).push_back(job.id);
    }
  }
  // The results of earlier jobs, served again.
  absl::StatusOr<std::vector<Job>> succeeded = store_->JobsInStates({JobState::kSucceeded});
  if (!succeeded.ok()) return succeeded.status();
  for (const Job& job : *succeeded) {
    const fs::path folder = fs::path(options_.data_dir) / "jobs" / job.id / "model";
    std::error_code ec;
    if (job.fine_tuned_model.empty() || !fs::exists(folder / "model.safetensors", ec)) continue;
    // A failure leaves the model unlisted; the finished job's log ends with its terminal state
    // change, so nothing is added to it.
    hooks_.register_model(job.fine_tuned_model, folder.string(), job.base_model).IgnoreError();
  }
  std::lock_guard lock(mutex_);
  threads_.emplace_back([this] { ValidationLoop(); });
  for (int i = 0; i < std::max(1, options_.max_running_jobs); ++i) {
    threads_.emplace_back([this] { RunnerLoop(); });
  }
  started_ = true;  // only now: CreateJob answers UNAVAILABLE until jobs can run
  return absl::OkStatus();
}

void JobManager::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<Job> JobManager::CreateJob(const Job& request) {
  {
    std::lock_guard lock(mutex_);
    if (!started_ || stopping_) {
      return absl::UnavailableError("the server is not accepting fine-tuning jobs now");
    }
  }
  if (request.base_model.empty()) return absl::InvalidArgumentError("base_model is required");
  if (request.training_file.empty()) {
    return absl::InvalidArgumentError("training_file is required");
  }
  if (!ValidSuffix(request.suffix)) {
    return absl::InvalidArgumentError("suffix must be 0 to 40 characters from [a-z0-9-], got \"" +
                                      request.suffix + "\"");
  }
  if (request.metadata.size() > 16) {
    return absl::InvalidArgumentError("metadata holds more than 16 pairs");
  }
  for (const auto& [key, value] : request.metadata) {
    if (key.empty() || key.size() > 64 || value.size() > 512) {
      return absl::InvalidArgumentError(
          "metadata keys must be 1 to 64 characters and values at most 512");
    }
  }
  if (request.idempotency_key.size() > 128 ||
      !std::all_of(request.idempotency_key.begin(), request.idempotency_key.end(),
                   [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return absl::InvalidArgumentError(
        "idempotency_key must be at most 128 printable ASCII characters");
  }
  if (request.task == JobTask::kCausalLm) {
    return absl::FailedPreconditionError(
        "CAUSAL_LM fine-tuning is not supported yet; use SEQUENCE_CLASSIFICATION");
  }
  absl::StatusOr<BaseModel> base = hooks_.resolve_base_model(request.base_model);
  if (!base.ok()) return base.status();
  if (!base->not_trainable.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("model '", request.base_model,
                                                      "' cannot be fine-tuned for sequence "
                                                      "classification: ",
                                                      base->not_trainable));
  }
  absl::StatusOr<StoredFile> train = store_->GetFile(request.training_file);
  if (!train.ok()) return train.status();
  if (train->purpose != FilePurpose::kFineTune) {
    return absl::InvalidArgumentError(absl::StrCat("training_file '", request.training_file,
                                                   "' was not uploaded with purpose fine-tune"));
  }
  const bool has_validation = !request.validation_file.empty();
  if (has_validation) {
    absl::StatusOr<StoredFile> validation = store_->GetFile(request.validation_file);
    if (!validation.ok()) return validation.status();
    if (validation->purpose == FilePurpose::kFineTuneResults) {
      return absl::InvalidArgumentError(
          absl::StrCat("validation_file '", request.validation_file, "' is a results file"));
    }
  }
  if (absl::Status s = ValidateHyperparameters(request.hyperparameters, has_validation,
                                               base->max_sequence_length);
      !s.ok()) {
    return s;
  }
  if (!request.idempotency_key.empty()) {
    absl::StatusOr<std::optional<Job>> existing =
        store_->FindJobByIdempotencyKey(request.idempotency_key);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      if (SameRequest(**existing, request)) return **existing;
      return absl::AlreadyExistsError(absl::StrCat("idempotency_key '", request.idempotency_key,
                                                   "' was used by job ", (*existing)->id,
                                                   " for a different request"));
    }
  }
  {
    std::lock_guard lock(mutex_);
    const size_t live = to_validate_.size() + to_run_.size() + cancel_flags_.size();
    if (live >= static_cast<size_t>(options_.max_queued_jobs)) {
      return absl::ResourceExhaustedError(absl::StrCat("the fine-tuning queue is full (", live,
                                                       " jobs waiting or running); retry later"));
    }
  }

  Job job = request;
  job.id = "ftjob-" + RandomHex(24);
  job.state = JobState::kValidatingFiles;
  job.created_at_ms = NowMs();
  job.seed = request.hyperparameters.seed ? *request.hyperparameters.seed : RandomU64();
  job.fine_tuned_model.clear();
  job.error.reset();
  JobEvent first = Message(EventLevel::kInfo, "job created; validating files");
  first.job_id = job.id;
  first.state_change = StateChange{std::nullopt, JobState::kValidatingFiles, "job created"};
  absl::StatusOr<JobEvent> stored = store_->CreateJob(job, first);
  if (!stored.ok()) {
    if (stored.status().code() == absl::StatusCode::kAlreadyExists &&
        !request.idempotency_key.empty()) {
      // A concurrent retry with the same key won the race.
      absl::StatusOr<std::optional<Job>> winner =
          store_->FindJobByIdempotencyKey(request.idempotency_key);
      if (winner.ok() && winner->has_value() && SameRequest(**winner, request)) return **winner;
    }
    return stored.status();
  }
  {
    std::lock_guard lock(mutex_);
    to_validate_.push_back(job.id);
  }
  wake_.notify_all();
  return job;
}

absl::StatusOr<Job> JobManager::GetJob(const std::string& id) { return store_->GetJob(id); }

absl::StatusOr<JobPage> JobManager::ListJobs(int page_size, const std::string& page_token,
                                             const std::vector<JobState>& states) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be >= 0, got ", page_size));
  }
  return store_->ListJobs(page_size, page_token, states);  // 0: 20; over 100: 100
}

absl::StatusOr<Job> JobManager::CancelJob(const std::string& id) {
  std::lock_guard lock(mutex_);
  absl::StatusOr<Job> job = store_->GetJob(id);
  if (!job.ok()) return job.status();
  if (IsTerminal(job->state)) return job;
  const JobState from = job->state;
  job->state = JobState::kCancelled;
  job->finished_at_ms = NowMs();
  job->estimated_finish_ms = 0;
  JobEvent event = Message(EventLevel::kInfo, "job cancelled by request");
  event.job_id = id;
  event.state_change = StateChange{from, JobState::kCancelled, "cancelled by request"};
  absl::StatusOr<JobEvent> stored = store_->AppendEvent(event, &*job);
  if (!stored.ok()) return stored.status();
  if (auto it = cancel_flags_.find(id); it != cancel_flags_.end()) it->second->store(true);
  std::erase(to_validate_, id);
  std::erase(to_run_, id);
  if (auto it = watchers_.find(id); it != watchers_.end()) {
    for (const auto& watcher : it->second) watcher->OnEvent(*stored);
    watchers_.erase(it);
  }
  return job;
}

absl::Status JobManager::ForgetModel(const std::string& name) {
  // The job id is the name's last field.
  const size_t colon = name.rfind(':');
  const std::string id = colon == std::string::npos ? name : name.substr(colon + 1);
  absl::StatusOr<Job> job = store_->GetJob(id);
  if (!job.ok() || job->fine_tuned_model != name) {
    return absl::NotFoundError(absl::StrCat("no fine-tuning job produced model '", name, "'"));
  }
  std::error_code ec;
  fs::remove_all(fs::path(options_.data_dir) / "jobs" / id / "model", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot delete the folder of model '", name, "': ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobState> JobManager::Watch(const std::string& job_id, int64_t after_sequence,
                                           bool follow, std::shared_ptr<JobWatcher> watcher) {
  if (after_sequence < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_sequence must be >= 0, got ", after_sequence));
  }
  std::lock_guard lock(mutex_);
  absl::StatusOr<Job> job = store_->GetJob(job_id);
  if (!job.ok()) return job.status();
  absl::StatusOr<std::vector<JobEvent>> events =
      store_->Events(job_id, after_sequence, std::numeric_limits<int>::max());
  if (!events.ok()) return events.status();
  for (const JobEvent& event : *events) watcher->OnEvent(event);
  if (follow && !IsTerminal(job->state)) watchers_[job_id].push_back(std::move(watcher));
  return job->state;
}

void JobManager::Unwatch(const std::string& job_id, const JobWatcher* watcher) {
  std::lock_guard lock(mutex_);
  auto it = watchers_.find(job_id);
  if (it == watchers_.end()) return;
  std::erase_if(it->second, [&](const auto& w) { return w.get() == watcher; });
  if (it->second.empty()) watchers_.erase(it);
}

JobManager::Recorded JobManager::Record(const std::string& job_id, JobEvent event, Job* job) {
  event.job_id = job_id;
  for (int attempt = 0;; ++attempt) {
    {
      std::lock_guard lock(mutex_);
      // Nothing is recorded for a job that has ended meanwhile (a CancelJob won the race).
      absl::StatusOr<Job> current = store_->GetJob(job_id);
      if (current.ok() && IsTerminal(current->state)) return Recorded::kEnded;
      if (current.ok()) {
        absl::StatusOr<JobEvent> stored = store_->AppendEvent(event, job);
        if (stored.ok()) {
          auto it = watchers_.find(job_id);
          if (it == watchers_.end()) return Recorded::kYes;
          for (const auto& watcher : it->second) watcher->OnEvent(*stored);
          if (stored->state_change && IsTerminal(stored->state_change->to)) watchers_.erase(it);
          return Recorded::kYes;
        }
        if (stored.status().code() == absl::StatusCode::kFailedPrecondition) {
          return Recorded::kEnded;  // the store refuses to leave a terminal state
        }
      }
    }
    // A busy or full disk: try again shortly, then let the caller requeue the job.
    if (attempt == 4) return Recorded::kStoreError;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
  }
}

void JobManager::Requeue(const std::string& job_id, bool validation) {
  std::this_thread::sleep_for(std::chrono::seconds(1));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;  // picked up again at the next Start
    (validation ? to_validate_ : to_run_).push_back(job_id);
  }
  wake_.notify_all();
}

void JobManager::Guarded(const std::string& job_id, bool validation) {
  std::string code, message;
  try {
    if (validation) {
      Validate(job_id);
    } else {
      Run(job_id);
    }
    return;
  } catch (const std::bad_alloc&) {
    code = "out_of_memory";
    message = "the server ran out of memory; try a smaller batch_size or max_seq_length";
  } catch (const std::exception& e) {
    code = "internal";
    message = std::string("internal error: ") + e.what();
  }
  absl::StatusOr<Job> job = store_->GetJob(job_id);
  if (job.ok() && !IsTerminal(job->state)) Fail(&*job, code, absl::InternalError(message));
}

JobManager::Recorded JobManager::ChangeState(Job* job, JobState to, const std::string& reason,
                                             EventLevel level) {
  const JobState from = job->state;
  job->state = to;
  if (to == JobState::kRunning && job->started_at_ms == 0) job->started_at_ms = NowMs();
  if (IsTerminal(to)) {
    job->finished_at_ms = NowMs();
    job->estimated_finish_ms = 0;
  }
  JobEvent event = Message(level, reason);
  event.state_change = StateChange{from, to, reason};
  return Record(job->id, std::move(event), job);
}

void JobManager::Fail(Job* job, const std::string& code, const absl::Status& status) {
  JobError error;
  error.code = code;
  error.message = std::string(status.message());
  error.line = training::ErrorLine(status);
  job->error = error;
  ChangeState(job, JobState::kFailed, error.message, EventLevel::kError);
}

bool JobManager::Cancelled(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  if (stopping_) return true;
  auto it = cancel_flags_.find(job_id);
  return it != cancel_flags_.end() && it->second->load();
}

void JobManager::ValidationLoop() {
  while (true) {
    std::string id;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !to_validate_.empty(); });
      if (stopping_) return;
      id = to_validate_.front();
      to_validate_.pop_front();
    }
    Guarded(id, /*validation=*/true);
  }
}

void JobManager::RunnerLoop() {
  while (true) {
    std::string id;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !to_run_.empty(); });
      if (stopping_) return;
      id = to_run_.front();
      to_run_.pop_front();
      cancel_flags_[id] = std::make_shared<std::atomic<bool>>(false);
    }
    Guarded(id, /*validation=*/false);
    std::lock_guard lock(mutex_);
    cancel_flags_.erase(id);
  }
}

namespace {

// Parses the job's files with the base model's tokenizer and labels.
absl::StatusOr<JobData> LoadJobData(const Job& job, const BaseModel& base,
                                    const tokenizers::Tokenizer& tokenizer, FileStore& files,
                                    std::string* failed_file) {
  training::TextDatasetOptions options;
  options.labels = LabelSpecFor(job.hyperparameters, base);
  options.max_length =
      static_cast<size_t>(MaxSequenceLength(job.hyperparameters, base.max_sequence_length));
  JobData data;
  *failed_file = job.training_file;
  absl::StatusOr<std::string> train_path = files.Path(job.training_file);
  if (!train_path.ok()) return train_path.status();
  absl::StatusOr<training::TextClassificationData> train =
      training::LoadTextClassificationFile(*train_path, tokenizer, options);
  if (!train.ok()) return train.status();
  data.labels = train->labels;
  data.train = train->dataset;
  data.truncated_train = train->truncated_lines;
  if (!job.validation_file.empty()) {
    *failed_file = job.validation_file;
    options.labels = train->labels.spec();
    absl::StatusOr<std::string> eval_path = files.Path(job.validation_file);
    if (!eval_path.ok()) return eval_path.status();
    absl::StatusOr<training::TextClassificationData> eval =
        training::LoadTextClassificationFile(*eval_path, tokenizer, options);
    if (!eval.ok()) return eval.status();
    data.eval = eval->dataset;
    data.truncated_eval = eval->truncated_lines;
  }
  failed_file->clear();
  return data;
}

// The job's metrics as CSV, one row per logged step, from its durable event log (so a job
// resumed after a crash has every step; a step logged twice keeps its latest values).
std::string MetricsCsv(const std::vector<JobEvent>& events) {
  struct Row {
    std::optional<TrainingStep> train;
    std::optional<Evaluation> eval;
  };
  std::map<int64_t, Row> rows;
  for (const JobEvent& e : events) {
    if (e.training_step) rows[e.training_step->step].train = e.training_step;
    if (e.evaluation) rows[e.evaluation->step].eval = e.evaluation;
  }
  std::string csv =
      "step,epoch,train_loss,learning_rate,grad_norm,samples_per_second,valid_loss,"
      "valid_accuracy,valid_macro_f1\n";
  auto metric = [](const std::optional<Evaluation>& eval, const char* name) -> std::string {
    if (!eval) return "";
    auto it = eval->metrics.find(name);
    return it == eval->metrics.end() ? "" : absl::StrCat(it->second);
  };
  for (const auto& [step, row] : rows) {
    const double epoch = row.train ? row.train->epoch : row.eval->epoch;
    absl::StrAppend(&csv, step, ",", epoch, ",");
    if (row.train) {
      absl::StrAppend(&csv, row.train->loss, ",", row.train->learning_rate, ",",
                      row.train->grad_norm, ",", row.train->samples_per_second);
    } else {
      csv += ",,,";
    }
    absl::StrAppend(&csv, ",", metric(row.eval, "loss"), ",", metric(row.eval, "accuracy"), ",",
                    metric(row.eval, "macro_f1"), "\n");
  }
  return csv;
}

FileValidation Truncations(const std::string& file_id, const std::vector<int64_t>& lines,
                           int64_t max_length) {
  FileValidation v;
  v.file_id = file_id;
  for (size_t i = 0; i < lines.size() && i < kMaxIssues; ++i) {
    v.issues.push_back(
        {lines[i], absl::StrCat("cut to ", max_length, " tokens"), EventLevel::kWarn});
  }
  return v;
}

}  // namespace

void JobManager::Validate(const std::string& id) {
  absl::StatusOr<Job> job = store_->GetJob(id);
  if (!job.ok() || job->state != JobState::kValidatingFiles) return;
  absl::StatusOr<BaseModel> base = hooks_.resolve_base_model(job->base_model);
  if (!base.ok()) return Fail(&*job, "base_model_not_found", base.status());
  absl::StatusOr<std::unique_ptr<tokenizers::Tokenizer>> tokenizer =
      tokenizers::Tokenizer::FromFile((fs::path(base->folder) / "tokenizer.json").string());
  if (!tokenizer.ok()) return Fail(&*job, "unsupported_model", tokenizer.status());
  std::string failed_file;
  absl::StatusOr<JobData> data = LoadJobData(*job, *base, **tokenizer, *files_, &failed_file);
  if (!data.ok()) {
    JobEvent event = Message(EventLevel::kError,
                             absl::StrCat("file ", failed_file, ": ", data.status().message()));
    FileValidation validation;
    validation.file_id = failed_file;
    validation.issues.push_back({training::ErrorLine(data.status()).value_or(0),
                                 std::string(data.status().message()), EventLevel::kError});
    event.file_validation = validation;
    if (Record(id, std::move(event), nullptr) == Recorded::kStoreError) {
      return Requeue(id, /*validation=*/true);
    }
    return Fail(&*job, "invalid_file", data.status());
  }
  const int64_t max_length = MaxSequenceLength(job->hyperparameters, base->max_sequence_length);
  for (const auto& [file, examples, truncated] :
       {std::tuple{job->training_file, data->train, data->truncated_train},
        std::tuple{job->validation_file, data->eval, data->truncated_eval}}) {
    if (file.empty()) continue;
    JobEvent event =
        Message(truncated.empty() ? EventLevel::kInfo : EventLevel::kWarn,
                absl::StrCat("file ", file, ": ", examples->size(), " examples, labels ",
                             absl::StrJoin(data->labels->names(), ", "),
                             truncated.empty() ? ""
                                               : absl::StrCat("; ", truncated.size(), " cut to ",
                                                              max_length, " tokens")));
    event.file_validation = Truncations(file, truncated, max_length);
    const Recorded recorded = Record(id, std::move(event), nullptr);
    if (recorded == Recorded::kStoreError) return Requeue(id, /*validation=*/true);
    if (recorded == Recorded::kEnded) return;
  }
  switch (ChangeState(&*job, JobState::kQueued, "files valid", EventLevel::kInfo)) {
    case Recorded::kYes: {
      std::lock_guard lock(mutex_);
      to_run_.push_back(id);
      break;
    }
    case Recorded::kStoreError:
      return Requeue(id, /*validation=*/true);
    case Recorded::kEnded:
      return;
  }
  wake_.notify_all();
}

void JobManager::Run(const std::string& id) {
  absl::StatusOr<Job> loaded = store_->GetJob(id);
  if (!loaded.ok() || IsTerminal(loaded->state)) return;
  Job job = *std::move(loaded);
  if (job.state == JobState::kQueued) {
    const Recorded recorded =
        ChangeState(&job, JobState::kRunning, "training started", EventLevel::kInfo);
    if (recorded == Recorded::kStoreError) return Requeue(id, /*validation=*/false);
    if (recorded == Recorded::kEnded) return;
  }
  // Per thread: inference threads keep the rest of the CPU.
  if (options_.train_threads > 0) backends::SetCpuThreads(options_.train_threads);
  // While it trains, inference batches use the other cores only.
  const backends::CpuReservation cores(options_.train_threads);
  absl::StatusOr<BaseModel> base = hooks_.resolve_base_model(job.base_model);
  if (!base.ok()) return Fail(&job, "base_model_not_found", base.status());
  absl::StatusOr<std::unique_ptr<tokenizers::Tokenizer>> tokenizer =
      tokenizers::Tokenizer::FromFile((fs::path(base->folder) / "tokenizer.json").string());
  if (!tokenizer.ok()) return Fail(&job, "unsupported_model", tokenizer.status());
  std::string failed_file;
  absl::StatusOr<JobData> data = LoadJobData(job, *base, **tokenizer, *files_, &failed_file);
  if (!data.ok()) return Fail(&job, "invalid_file", data.status());

  const Hyperparameters& h = job.hyperparameters;
  const int64_t batch = h.batch_size.value_or(kDefaultBatchSize);
  const int64_t accumulation = h.gradient_accumulation_steps.value_or(1);
  const auto examples = static_cast<int64_t>(data->train->size());
  const int64_t batches = (examples + batch - 1) / batch;
  const int64_t steps_per_epoch = (batches + accumulation - 1) / accumulation;
  const fs::path job_dir = fs::path(options_.data_dir) / "jobs" / id;
  absl::StatusOr<training::TrainingArguments> args = TrainingArgumentsFor(
      job, (job_dir / "checkpoints").string(), data->eval != nullptr, steps_per_epoch);
  if (!args.ok()) return Fail(&job, "invalid_hyperparameters", args.status());
  {
    // The job's folders exist durably before anything in them is reported (a checkpoint's or
    // the model's own writes sync only their own folder).
    std::error_code ec;
    fs::create_directories(job_dir / "checkpoints", ec);
    if (ec) {
      return Fail(&job, "storage_full",
                  absl::InternalError(
                      absl::StrCat("cannot create ", job_dir.string(), ": ", ec.message())));
    }
    for (const fs::path& folder :
         {job_dir, job_dir.parent_path(), job_dir.parent_path().parent_path()}) {
      if (absl::Status s = nn::SyncDirectory(folder.string()); !s.ok()) {
        return Fail(&job, "storage_full", s);
      }
    }
  }
  int64_t tokens_per_epoch = 0;
  for (size_t i = 0; i < data->train->size(); ++i) {
    tokens_per_epoch += static_cast<int64_t>(data->train->get(i).ids.size());
  }

  double last_loss = 0.0;
  std::map<std::string, double> last_eval;
  int64_t last_eval_step = -1;
  bool ended = false;        // the job ended meanwhile: stop
  bool store_error = false;  // the store failed: stop and requeue
  training::TrainerHooks hooks;
  hooks.on_event = [&](const training::TrainerEvent& e) {
    using Kind = training::TrainerEvent::Kind;
    JobEvent event;
    switch (e.kind) {
      case Kind::kLog: {
        last_loss = e.loss;
        job.progress = Progress{e.step,          e.max_steps,          e.epoch,      e.loss,
                                e.learning_rate, e.samples_per_second, e.eta_seconds};
        job.estimated_finish_ms = NowMs() + static_cast<int64_t>(e.eta_seconds * 1000);
        job.trained_tokens = static_cast<int64_t>(static_cast<double>(tokens_per_epoch) * e.step /
                                                  std::max<int64_t>(1, steps_per_epoch));
        event = Message(EventLevel::kInfo, absl::StrCat("step ", e.step, "/", e.max_steps,
                                                        ": training loss ", e.loss));
        event.training_step =
            TrainingStep{e.step,      e.max_steps,          e.epoch,      e.loss, e.learning_rate,
                         e.grad_norm, e.samples_per_second, e.eta_seconds};
        break;
      }
      case Kind::kEvaluation: {
        last_eval = {{"loss", e.metrics->loss},
                     {"accuracy", e.metrics->accuracy},
                     {"macro_f1", e.metrics->macro_f1}};
        last_eval_step = e.step;
        event = Message(EventLevel::kInfo,
                        absl::StrCat("step ", e.step, ": validation loss ", e.metrics->loss,
                                     ", accuracy ", e.metrics->accuracy));
        event.evaluation = Evaluation{e.step, e.epoch, last_eval};
        break;
      }
      case Kind::kCheckpoint: {
        CheckpointInfo checkpoint;
        checkpoint.id = absl::StrCat("ftckpt-", id, "-", e.step);
        checkpoint.step = e.step;
        checkpoint.epoch = e.epoch;
        checkpoint.created_at_ms = NowMs();
        // Checkpoint.metrics: "train_loss", and "eval_<name>" when an evaluation ran at this step.
        if (last_eval_step == e.step) {
          for (const auto& [name, value] : last_eval) checkpoint.metrics["eval_" + name] = value;
        }
        checkpoint.metrics["train_loss"] = last_loss;
        checkpoint.path = e.checkpoint;
        // Older checkpoints the Trainer pruned are no longer listed.
        std::erase_if(job.checkpoints, [](const CheckpointInfo& c) { return !fs::exists(c.path); });
        std::erase_if(job.checkpoints, [&](const CheckpointInfo& c) { return c.step == e.step; });
        job.checkpoints.push_back(checkpoint);
        event = Message(EventLevel::kInfo, absl::StrCat("checkpoint saved at step ", e.step));
        event.checkpoint_saved = checkpoint;
        break;
      }
      case Kind::kEnd:
        return;
    }
    switch (Record(id, std::move(event), &job)) {
      case Recorded::kYes:
        break;
      case Recorded::kEnded:
        ended = true;
        break;
      case Recorded::kStoreError:
        store_error = true;
        break;
    }
  };
  hooks.should_stop = [&] { return ended || store_error || Cancelled(id); };
  hooks.between_steps = [&] {
    if (!hooks_.inference_waiting) return;
    // Inference first: wait while requests queue for the CPU, up to max_yield_ms per step.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.max_yield_ms);
    while (hooks_.inference_waiting() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  };
  const std::string model_dir = (job_dir / "model").string();
  training::FineTuneSpec spec;
  spec.base_folder = base->folder;
  spec.output_folder = model_dir;
  spec.args = *args;
  spec.labels = data->labels->names();
  spec.train = data->train;
  spec.eval = data->eval;
  spec.seed = job.seed;
  spec.resume = "latest";
  absl::StatusOr<training::TrainResult> result = training::FineTune(spec, hooks);
  if (!result.ok()) {
    const absl::Status& s = result.status();
    // Cancelled (recorded by CancelJob) or shutting down (resumes after the restart).
    if (s.code() == absl::StatusCode::kCancelled) {
      if (store_error) Requeue(id, /*validation=*/false);  // resumes from its checkpoint
      return;
    }
    const char* code =
        absl::StrContains(s.message(), "training loss is") ? "training_diverged"
        : s.code() == absl::StatusCode::kInvalidArgument ||
                s.code() == absl::StatusCode::kUnimplemented
            ? "unsupported_model"
        : s.code() == absl::StatusCode::kPermissionDenied || s.code() == absl::StatusCode::kDataLoss
            ? "storage_full"
            : "internal";
    return Fail(&job, code, s);
  }
  if (absl::Status s = nn::SyncDirectory(job_dir.string()); !s.ok()) {
    return Fail(&job, "storage_full", s);
  }
  const std::string name = FineTunedModelName(job);
  if (Cancelled(id)) return;  // CancelJob recorded it: no model
  if (absl::Status s = hooks_.register_model(name, model_dir, job.base_model);
      !s.ok() && s.code() != absl::StatusCode::kAlreadyExists) {
    return Fail(&job, "internal", s);
  }
  if (absl::StatusOr<std::vector<JobEvent>> log = store_->Events(id, 0, 0); log.ok()) {
    absl::StatusOr<StoredFile> results =
        files_->AddResultFile(absl::StrCat(id, "-metrics.csv"), MetricsCsv(*log));
    if (results.ok()) job.result_files = {results->id};
  }
  job.fine_tuned_model = name;
  job.progress.step = result->global_step;
  job.progress.eta_seconds = 0;
  switch (ChangeState(&job, JobState::kSucceeded, absl::StrCat("model ", name, " is ready"),
                      EventLevel::kInfo)) {
    case Recorded::kYes:
      return;
    case Recorded::kStoreError:
      // Run again: the Trainer finds its last checkpoint complete and only finishes.
      return Requeue(id, /*validation=*/false);
    case Recorded::kEnded: {
      // Cancelled while it finished: no fine_tuned_model is produced.
      if (hooks_.unregister_model) hooks_.unregister_model(name).IgnoreError();
      std::error_code ec;
      fs::remove_all(model_dir, ec);
      for (const std::string& file : job.result_files) files_->Delete(file).IgnoreError();
      return;
    }
  }
}

}  // namespace trustformers::jobs
