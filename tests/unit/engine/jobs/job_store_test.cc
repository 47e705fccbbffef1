// The job store: every field of files, jobs and events comes back exactly (odd doubles, NaN,
// 64-bit seeds, unset optionals), event sequences per job, a job and its event written together
// or not at all, pagination with filters and signed tokens, idempotency keys, reopening, two
// connections on one file, refused foreign or corrupt files, and writers on several threads.
#include "engine/jobs/job_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/jobs/sqlite_db.h"
#include "unit/temp_dir.h"

namespace trustformers::jobs {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kHourMs = int64_t{60} * 60 * 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<JobStore> OpenStore(const std::string& path) {
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

// Bit-equal, or both NaN: what "exactly" means for a stored double.
bool Same(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

bool Same(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a.has_value() || Same(*a, *b));
}

bool Same(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (it == b.end() || !Same(value, it->second)) return false;
  }
  return true;
}

void CheckSame(const CheckpointInfo& a, const CheckpointInfo& b) {
  CHECK(a.id == b.id);
  CHECK(a.step == b.step);
  CHECK(Same(a.epoch, b.epoch));
  CHECK(a.created_at_ms == b.created_at_ms);
  CHECK(Same(a.metrics, b.metrics));
  CHECK(a.path == b.path);
}

void CheckSame(const Hyperparameters& a, const Hyperparameters& b) {
  CHECK(a.n_epochs == b.n_epochs);
  CHECK(a.max_steps == b.max_steps);
  CHECK(a.batch_size == b.batch_size);
  CHECK(a.gradient_accumulation_steps == b.gradient_accumulation_steps);
  CHECK(Same(a.learning_rate, b.learning_rate));
  CHECK(Same(a.learning_rate_multiplier, b.learning_rate_multiplier));
  CHECK(a.warmup_steps == b.warmup_steps);
  CHECK(Same(a.warmup_ratio, b.warmup_ratio));
  CHECK(Same(a.weight_decay, b.weight_decay));
  CHECK(Same(a.max_grad_norm, b.max_grad_norm));
  CHECK(a.lr_scheduler == b.lr_scheduler);
  CHECK(a.seed == b.seed);
  CHECK(a.eval_steps == b.eval_steps);
  CHECK(a.save_steps == b.save_steps);
  CHECK(a.max_seq_length == b.max_seq_length);
  CHECK(a.num_labels == b.num_labels);
  CHECK(a.labels == b.labels);
  CHECK(a.logging_steps == b.logging_steps);
}

void CheckSame(const Job& a, const Job& b) {
  INFO("job " << a.id);
  CHECK(a.id == b.id);
  CHECK(a.base_model == b.base_model);
  CHECK(a.fine_tuned_model == b.fine_tuned_model);
  CHECK(a.state == b.state);
  CHECK(a.task == b.task);
  CHECK(a.training_file == b.training_file);
  CHECK(a.validation_file == b.validation_file);
  CheckSame(a.hyperparameters, b.hyperparameters);
  CHECK(a.created_at_ms == b.created_at_ms);
  CHECK(a.started_at_ms == b.started_at_ms);
  CHECK(a.finished_at_ms == b.finished_at_ms);
  CHECK(a.estimated_finish_ms == b.estimated_finish_ms);
  REQUIRE(a.error.has_value() == b.error.has_value());
  if (a.error.has_value()) {
    CHECK(a.error->code == b.error->code);
    CHECK(a.error->message == b.error->message);
    CHECK(a.error->line == b.error->line);
  }
  CHECK(a.progress.step == b.progress.step);
  CHECK(a.progress.total_steps == b.progress.total_steps);
  CHECK(Same(a.progress.epoch, b.progress.epoch));
  CHECK(Same(a.progress.train_loss, b.progress.train_loss));
  CHECK(Same(a.progress.learning_rate, b.progress.learning_rate));
  CHECK(Same(a.progress.samples_per_second, b.progress.samples_per_second));
  CHECK(Same(a.progress.eta_seconds, b.progress.eta_seconds));
  CHECK(a.trained_tokens == b.trained_tokens);
  CHECK(a.result_files == b.result_files);
  REQUIRE(a.checkpoints.size() == b.checkpoints.size());
  for (size_t i = 0; i < a.checkpoints.size(); ++i) CheckSame(a.checkpoints[i], b.checkpoints[i]);
  CHECK(a.seed == b.seed);
  CHECK(a.metadata == b.metadata);
  CHECK(a.suffix == b.suffix);
  CHECK(a.idempotency_key == b.idempotency_key);
}

void CheckSame(const JobEvent& a, const JobEvent& b) {
  INFO("event " << a.job_id << " #" << a.sequence);
  CHECK(a.job_id == b.job_id);
  CHECK(a.sequence == b.sequence);
  CHECK(a.created_at_ms == b.created_at_ms);
  CHECK(a.level == b.level);
  CHECK(a.message == b.message);
  REQUIRE(a.state_change.has_value() == b.state_change.has_value());
  if (a.state_change.has_value()) {
    CHECK(a.state_change->from == b.state_change->from);
    CHECK(a.state_change->to == b.state_change->to);
    CHECK(a.state_change->reason == b.state_change->reason);
  }
  REQUIRE(a.training_step.has_value() == b.training_step.has_value());
  if (a.training_step.has_value()) {
    const TrainingStep& x = *a.training_step;
    const TrainingStep& y = *b.training_step;
    CHECK(x.step == y.step);
    CHECK(x.total_steps == y.total_steps);
    CHECK(Same(x.epoch, y.epoch));
    CHECK(Same(x.loss, y.loss));
    CHECK(Same(x.learning_rate, y.learning_rate));
    CHECK(Same(x.grad_norm, y.grad_norm));
    CHECK(Same(x.samples_per_second, y.samples_per_second));
    CHECK(Same(x.eta_seconds, y.eta_seconds));
  }
  REQUIRE(a.evaluation.has_value() == b.evaluation.has_value());
  if (a.evaluation.has_value()) {
    CHECK(a.evaluation->step == b.evaluation->step);
    CHECK(Same(a.evaluation->epoch, b.evaluation->epoch));
    CHECK(Same(a.evaluation->metrics, b.evaluation->metrics));
  }
  REQUIRE(a.checkpoint_saved.has_value() == b.checkpoint_saved.has_value());
  if (a.checkpoint_saved.has_value()) CheckSame(*a.checkpoint_saved, *b.checkpoint_saved);
  REQUIRE(a.file_validation.has_value() == b.file_validation.has_value());
  if (a.file_validation.has_value()) {
    CHECK(a.file_validation->file_id == b.file_validation->file_id);
    REQUIRE(a.file_validation->issues.size() == b.file_validation->issues.size());
    for (size_t i = 0; i < a.file_validation->issues.size(); ++i) {
      CHECK(a.file_validation->issues[i].line == b.file_validation->issues[i].line);
      CHECK(a.file_validation->issues[i].message == b.file_validation->issues[i].message);
      CHECK(a.file_validation->issues[i].level == b.file_validation->issues[i].level);
    }
  }
}

// A job with nothing but what CreateJob needs.
Job MinimalJob(const std::string& id, int64_t created_at_ms) {
  Job job;
  job.id = id;
  job.base_model = "all-minilm-l6-v2";
  job.training_file = "file-000000000000000000000001";
  job.created_at_ms = created_at_ms;
  return job;
}

// A job with every field set, and awkward values where a codec could slip.
Job FullJob(const std::string& id) {
  Job job = MinimalJob(id, 1700000000123);
  job.fine_tuned_model = "ft:all-minilm-l6-v2:sentiment:" + id;
  job.state = JobState::kRunning;
  job.task = JobTask::kCausalLm;
  job.validation_file = "file-000000000000000000000002";
  Hyperparameters& h = job.hyperparameters;
  h.n_epochs = 3;
  h.max_steps = int64_t{1} << 40;
  h.batch_size = 16;
  h.gradient_accumulation_steps = 4;
  h.learning_rate = 0.1;  // not a binary fraction
  h.learning_rate_multiplier = 1.0 / 3.0;
  h.warmup_steps = 0;  // set to zero is not unset
  h.warmup_ratio = std::numeric_limits<double>::denorm_min();
  h.weight_decay = -0.0;
  h.max_grad_norm = std::numeric_limits<double>::max();
  h.lr_scheduler = LrSchedule::kCosine;
  h.seed = std::numeric_limits<uint64_t>::max();  // beyond int64 and double
  h.eval_steps = 7;
  h.save_steps = 50;
  h.max_seq_length = 128;
  h.num_labels = 3;
  h.labels = {"négatif", "neutral", "positive \"quoted\""};
  h.logging_steps = 1;
  job.started_at_ms = 1700000001000;
  job.finished_at_ms = 1700000009000;
  job.estimated_finish_ms = 1700000010000;
  job.error = JobError{"invalid_file", "train.jsonl:3: missing \"label\"", 3};
  job.progress = Progress{120, 300, 1.2345678901234567, kNaN, 4.9999999999999996e-05, 1e300, -kInf};
  job.trained_tokens = int64_t{1} << 50;
  job.result_files = {"file-00000000000000000000000a", "file-00000000000000000000000b"};
  job.checkpoints = {
      CheckpointInfo{"ftckpt-" + id + "-100",
                     100,
                     1.0,
                     1700000005000,
                     {{"train_loss", 0.6931471805599453}, {"eval_accuracy", 0.875}},
                     "/data/jobs/" + id + "/checkpoint-100"},
      CheckpointInfo{"ftckpt-" + id + "-200", 200, 2.0, 1700000007000, {}, "/p"},
  };
  job.seed = 18446744073709551557ULL;
  job.metadata = {{"team", "nlp"}, {"emoji", "\xF0\x9F\x98\x80"}, {"", "empty key"}};
  job.suffix = "sentiment";
  job.idempotency_key = "retry-key-1";
  return job;
}

JobEvent StateEvent(std::optional<JobState> from, JobState to, const std::string& reason) {
  JobEvent event;
  event.message = reason;
  event.state_change = StateChange{from, to, reason};
  return event;
}

JobEvent Created() { return StateEvent(std::nullopt, JobState::kValidatingFiles, "created"); }

JobEvent PlainEvent(const std::string& message) {
  JobEvent event;
  event.message = message;
  return event;
}

// Creates MinimalJob(id, created_at_ms) in `state` with its first event.
void AddJob(JobStore& store, const std::string& id, int64_t created_at_ms,
            JobState state = JobState::kValidatingFiles) {
  Job job = MinimalJob(id, created_at_ms);
  job.state = state;
  absl::StatusOr<JobEvent> event = store.CreateJob(job, Created());
  INFO(event.status().ToString());
  REQUIRE(event.ok());
}

std::vector<std::string> Ids(const std::vector<Job>& jobs) {
  std::vector<std::string> ids;
  for (const Job& job : jobs) ids.push_back(job.id);
  return ids;
}

TEST_CASE("job store: every field of a file comes back", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  const StoredFile train{"file-0123456789abcdef01234567",
                         "données d'entraînement.jsonl",
                         FilePurpose::kFineTuneValidation,
                         int64_t{5} << 32,
                         std::string(64, 'a'),
                         1700000000001,
                         123456};
  REQUIRE(store->InsertFile(train).ok());
  StoredFile results = train;
  results.id = "file-0123456789abcdef01234568";
  results.purpose = FilePurpose::kFineTuneResults;
  results.created_at_ms += 1;
  REQUIRE(store->InsertFile(results).ok());
  CHECK(store->InsertFile(train).code() == absl::StatusCode::kAlreadyExists);

  absl::StatusOr<StoredFile> got = store->GetFile(train.id);
  REQUIRE(got.ok());
  CHECK(got->id == train.id);
  CHECK(got->filename == train.filename);
  CHECK(got->purpose == FilePurpose::kFineTuneValidation);
  CHECK(got->bytes == train.bytes);
  CHECK(got->sha256 == train.sha256);
  CHECK(got->created_at_ms == train.created_at_ms);
  CHECK(got->line_count == train.line_count);

  absl::StatusOr<std::vector<StoredFile>> all = store->ListFiles();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == results.id);  // newest first
  CHECK((*all)[0].purpose == FilePurpose::kFineTuneResults);

  REQUIRE(store->DeleteFile(train.id).ok());
  CHECK(store->GetFile(train.id).status().code() == absl::StatusCode::kNotFound);
  CHECK(store->DeleteFile(train.id).code() == absl::StatusCode::kNotFound);
  CHECK(store->ListFiles()->size() == 1);
}

TEST_CASE("job store: every field of a job and its events comes back exactly", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());

  const Job full = FullJob("ftjob-full");
  JobEvent first = StateEvent(std::nullopt, JobState::kValidatingFiles, "created");
  first.created_at_ms = 1700000000200;
  absl::StatusOr<JobEvent> stored_first = store->CreateJob(full, first);
  REQUIRE(stored_first.ok());
  CHECK(stored_first->job_id == full.id);
  CHECK(stored_first->sequence == 1);
  CHECK(stored_first->created_at_ms == 1700000000200);

  const Job minimal = MinimalJob("ftjob-minimal", 1700000000000);
  const int64_t before = NowMs();
  absl::StatusOr<JobEvent> minimal_first = store->CreateJob(minimal, Created());
  REQUIRE(minimal_first.ok());
  CHECK(minimal_first->created_at_ms >= before);  // unset: now
  CHECK(minimal_first->created_at_ms <= NowMs());

  absl::StatusOr<Job> got = store->GetJob(full.id);
  REQUIRE(got.ok());
  CheckSame(*got, full);
  CHECK(std::signbit(*got->hyperparameters.weight_decay));
  CHECK(std::isnan(got->progress.train_loss));

  got = store->GetJob(minimal.id);
  REQUIRE(got.ok());
  CheckSame(*got, minimal);
  CHECK_FALSE(got->hyperparameters.n_epochs.has_value());
  CHECK_FALSE(got->hyperparameters.seed.has_value());
  CHECK_FALSE(got->hyperparameters.learning_rate.has_value());
  CHECK_FALSE(got->error.has_value());
  CHECK(got->error == std::nullopt);
  CHECK(store->GetJob("ftjob-none").status().code() == absl::StatusCode::kNotFound);

  // One event of each payload kind, then read back in order.
  std::vector<JobEvent> sent;
  JobEvent step;
  step.message = "step 10";
  step.training_step = TrainingStep{10, 300, 0.1, kInf, 5e-5, 0.0, 123.456, 3600.5};
  sent.push_back(step);
  JobEvent evaluation;
  evaluation.level = EventLevel::kInfo;
  evaluation.evaluation = Evaluation{100, 1.0, {{"loss", 0.3}, {"accuracy", 0.9}, {"x", kNaN}}};
  sent.push_back(evaluation);
  JobEvent checkpoint;
  checkpoint.checkpoint_saved = full.checkpoints[0];
  sent.push_back(checkpoint);
  JobEvent validation;
  validation.level = EventLevel::kWarn;
  validation.message = "2 lines were cut";
  validation.file_validation = FileValidation{
      "file-1",
      {{4, "cut to 128 tokens", EventLevel::kWarn}, {0, "whole file", EventLevel::kError}}};
  sent.push_back(validation);
  JobEvent failed = StateEvent(JobState::kRunning, JobState::kFailed, "out of memory");
  failed.level = EventLevel::kError;
  sent.push_back(failed);
  sent.push_back(PlainEvent(""));
  for (JobEvent& event : sent) {
    event.job_id = full.id;
    event.created_at_ms = 1700000000300;
    event.sequence = 99;  // replaced by the store
    absl::StatusOr<JobEvent> appended = store->AppendEvent(event);
    REQUIRE(appended.ok());
    event.sequence = appended->sequence;
  }
  absl::StatusOr<std::vector<JobEvent>> events = store->Events(full.id, 0, 0);
  REQUIRE(events.ok());
  REQUIRE(events->size() == sent.size() + 1);
  CheckSame((*events)[0], *stored_first);
  for (size_t i = 0; i < sent.size(); ++i) {
    CHECK((*events)[i + 1].sequence == static_cast<int64_t>(i) + 2);
    CheckSame((*events)[i + 1], sent[i]);
  }
  CHECK((*events)[5].state_change->from == JobState::kRunning);
  CHECK_FALSE((*events)[0].state_change->from.has_value());
}

TEST_CASE("job store: each job numbers its own events", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  AddJob(*store, "ftjob-a", 1000);
  AddJob(*store, "ftjob-b", 2000);
  for (int i = 0; i < 5; ++i) {
    for (const char* id : {"ftjob-a", "ftjob-b"}) {
      JobEvent event = PlainEvent(std::string(id) + " " + std::to_string(i));
      event.job_id = id;
      absl::StatusOr<JobEvent> stored = store->AppendEvent(event);
      REQUIRE(stored.ok());
      CHECK(stored->sequence == i + 2);
    }
  }
  CHECK(*store->LastSequence("ftjob-a") == 6);
  CHECK(*store->LastSequence("ftjob-b") == 6);

  absl::StatusOr<std::vector<JobEvent>> page = store->Events("ftjob-b", 2, 3);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 3);
  CHECK((*page)[0].sequence == 3);
  CHECK((*page)[0].message == "ftjob-b 1");
  CHECK((*page)[2].sequence == 5);
  CHECK(store->Events("ftjob-b", 6, 0)->empty());  // caught up: empty, not an error
  CHECK(store->Events("ftjob-b", 100, 0)->empty());

  CHECK(store->Events("ftjob-none", 0, 0).status().code() == absl::StatusCode::kNotFound);
  CHECK(store->LastSequence("ftjob-none").status().code() == absl::StatusCode::kNotFound);
  CHECK(store->Events("ftjob-a", -1, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store->Events("ftjob-a", 0, -1).status().code() == absl::StatusCode::kInvalidArgument);
  JobEvent orphan = PlainEvent("nobody's");
  orphan.job_id = "ftjob-none";
  CHECK(store->AppendEvent(orphan).status().code() == absl::StatusCode::kNotFound);
  CHECK(store->AppendEvent(PlainEvent("no job")).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("job store: a state change and its event are written together or not at all", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  AddJob(*store, "ftjob-a", 1000);
  AddJob(*store, "ftjob-b", 2000);

  Job job = *store->GetJob("ftjob-a");
  job.state = JobState::kQueued;
  absl::StatusOr<JobEvent> queued = store->AppendEvent(
      StateEvent(JobState::kValidatingFiles, JobState::kQueued, "files valid"), &job);
  REQUIRE(queued.ok());
  CHECK(queued->job_id == "ftjob-a");  // taken from the job
  CHECK(queued->sequence == 2);
  CHECK(store->GetJob("ftjob-a")->state == JobState::kQueued);

  // Cancelled, then a runner that still thinks it is running tries to record a step.
  job.state = JobState::kCancelled;
  job.finished_at_ms = 5000;
  REQUIRE(
      store->AppendEvent(StateEvent(JobState::kQueued, JobState::kCancelled, "by request"), &job)
          .ok());
  Job stale = job;
  stale.state = JobState::kRunning;
  stale.progress.step = 10;
  JobEvent step;
  step.training_step = TrainingStep{10, 100, 0.1, 0.5, 1e-5, 1.0, 10.0, 1.0};
  absl::StatusOr<JobEvent> refused = store->AppendEvent(step, &stale);
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store->UpdateJob(stale).code() == absl::StatusCode::kFailedPrecondition);
  // Neither half was written.
  CHECK(*store->LastSequence("ftjob-a") == 3);
  absl::StatusOr<Job> now = store->GetJob("ftjob-a");
  CHECK(now->state == JobState::kCancelled);
  CHECK(now->progress.step == 0);
  CHECK(now->finished_at_ms == 5000);
  // Staying in the terminal state may still change the record (e.g. result files added).
  job.result_files = {"file-results"};
  REQUIRE(store->UpdateJob(job).ok());
  CHECK(store->GetJob("ftjob-a")->result_files == std::vector<std::string>{"file-results"});

  // An event of one job cannot carry another job's row.
  Job other = *store->GetJob("ftjob-b");
  other.state = JobState::kFailed;
  JobEvent crossed = PlainEvent("crossed");
  crossed.job_id = "ftjob-a";
  CHECK(store->AppendEvent(crossed, &other).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store->GetJob("ftjob-b")->state == JobState::kValidatingFiles);
  CHECK(*store->LastSequence("ftjob-b") == 1);

  // An update of an unknown job writes no event either.
  Job ghost = MinimalJob("ftjob-ghost", 1);
  CHECK(store->AppendEvent(PlainEvent("boo"), &ghost).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(store->UpdateJob(ghost).code() == absl::StatusCode::kNotFound);
  CHECK(store->Events("ftjob-ghost", 0, 0).status().code() == absl::StatusCode::kNotFound);

  // CreateJob: a duplicate id changes nothing, the first event is not duplicated.
  Job duplicate = MinimalJob("ftjob-b", 9999);
  duplicate.base_model = "other";
  CHECK(store->CreateJob(duplicate, Created()).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(store->GetJob("ftjob-b")->base_model == "all-minilm-l6-v2");
  CHECK(*store->LastSequence("ftjob-b") == 1);
  // Incomplete jobs and mismatched first events are refused.
  CHECK(store->CreateJob(MinimalJob("", 1), Created()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store->CreateJob(MinimalJob("ftjob-c", 0), Created()).status().code() ==
        absl::StatusCode::kInvalidArgument);
  JobEvent wrong = Created();
  wrong.job_id = "ftjob-a";
  CHECK(store->CreateJob(MinimalJob("ftjob-c", 1), wrong).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store->GetJob("ftjob-c").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("job store: pages of jobs, newest first, with state filters and signed tokens",
          "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  // 25 jobs; pairs share a creation time, so the id decides between them.
  const JobState cycle[] = {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                            JobState::kFailed, JobState::kCancelled};
  std::vector<std::string> expected;  // newest first
  std::vector<std::string> expected_live;
  for (int i = 24; i >= 0; --i) {
    char id[32];
    std::snprintf(id, sizeof(id), "ftjob-%02d", i);
    expected.push_back(id);
    if (i % 5 < 2) expected_live.push_back(id);
  }
  for (int i = 0; i < 25; ++i) {
    char id[32];
    std::snprintf(id, sizeof(id), "ftjob-%02d", i);
    AddJob(*store, id, 1000 + i / 2, cycle[i % 5]);
  }

  // All of them, 10 at a time.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<JobPage> page = store->ListJobs(10, token, {});
    INFO(page.status().ToString());
    REQUIRE(page.ok());
    CHECK(page->jobs.size() == (pages < 2 ? 10u : 5u));
    for (const std::string& id : Ids(page->jobs)) seen.push_back(id);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(seen == expected);

  // Only live jobs (queued or running), 3 at a time.
  const std::vector<JobState> live = {JobState::kRunning, JobState::kQueued};
  seen.clear();
  token.clear();
  pages = 0;
  std::string live_token;
  do {
    absl::StatusOr<JobPage> page = store->ListJobs(3, token, live);
    REQUIRE(page.ok());
    for (const Job& job : page->jobs) {
      CHECK((job.state == JobState::kQueued || job.state == JobState::kRunning));
      seen.push_back(job.id);
    }
    token = page->next_page_token;
    if (pages == 0) live_token = token;
    ++pages;
  } while (!token.empty() && pages < 10);
  CHECK(seen == expected_live);
  CHECK(pages == 4);  // 10 jobs: 3 + 3 + 3 + 1

  // The filter's order and repeats do not matter; another filter does.
  CHECK(store->ListJobs(3, live_token, {JobState::kQueued, JobState::kRunning, JobState::kQueued})
            .ok());
  CHECK(store->ListJobs(3, live_token, {}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store->ListJobs(3, live_token, {JobState::kQueued}).status().code() ==
        absl::StatusCode::kInvalidArgument);

  // Tokens that this store did not issue.
  std::string tampered = live_token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {std::string("garbage"), std::string("!!!"), std::string("AAAA"),
                                 tampered, live_token.substr(0, live_token.size() - 4)}) {
    INFO(bad);
    CHECK(store->ListJobs(3, bad, live).status().code() == absl::StatusCode::kInvalidArgument);
  }
  {
    std::unique_ptr<JobStore> other = OpenStore((dir.path() / "other.db").string());
    AddJob(*other, "ftjob-x", 1);
    AddJob(*other, "ftjob-y", 2);
    absl::StatusOr<JobPage> page = other->ListJobs(1, "", {});
    REQUIRE(page.ok());
    REQUIRE_FALSE(page->next_page_token.empty());
    CHECK(store->ListJobs(1, page->next_page_token, {}).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }

  // Jobs created after the first page never show on later pages, even with an older time.
  absl::StatusOr<JobPage> first = store->ListJobs(5, "", {});
  REQUIRE(first.ok());
  AddJob(*store, "ftjob-late-new", 5000);
  AddJob(*store, "ftjob-late-old", 1);  // would sort last
  seen = Ids(first->jobs);
  token = first->next_page_token;
  while (!token.empty()) {
    absl::StatusOr<JobPage> page = store->ListJobs(5, token, {});
    REQUIRE(page.ok());
    for (const std::string& id : Ids(page->jobs)) seen.push_back(id);
    token = page->next_page_token;
  }
  CHECK(seen == expected);
  // A fresh listing shows them.
  absl::StatusOr<JobPage> fresh = store->ListJobs(100, "", {});
  REQUIRE(fresh.ok());
  CHECK(fresh->jobs.size() == 27);
  CHECK(fresh->jobs.front().id == "ftjob-late-new");
  CHECK(fresh->jobs.back().id == "ftjob-late-old");
  CHECK(fresh->next_page_token.empty());

  // page_size: 0 means 20; negative is refused.
  CHECK(store->ListJobs(0, "", {})->jobs.size() == 20);
  CHECK(store->ListJobs(-1, "", {}).status().code() == absl::StatusCode::kInvalidArgument);
  // A filter nothing matches: an empty last page.
  absl::StatusOr<JobPage> none = store->ListJobs(10, "", {JobState::kValidatingFiles});
  REQUIRE(none.ok());
  CHECK(none->jobs.size() == 2);  // the two late ones
  CHECK(none->next_page_token.empty());

  // Recovery's view: every job in the given states, oldest first.
  absl::StatusOr<std::vector<Job>> running = store->JobsInStates({JobState::kRunning});
  REQUIRE(running.ok());
  CHECK(Ids(*running) ==
        std::vector<std::string>{"ftjob-01", "ftjob-06", "ftjob-11", "ftjob-16", "ftjob-21"});
  CHECK(store->JobsInStates({})->size() == 27);
}

TEST_CASE("job store: an idempotency key names one job for 24 hours", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  const int64_t now = NowMs();

  Job first = MinimalJob("ftjob-1", now);
  first.idempotency_key = "key-A";
  REQUIRE(store->CreateJob(first, Created()).ok());
  Job second = MinimalJob("ftjob-2", now + 1);
  second.idempotency_key = "key-A";
  absl::StatusOr<JobEvent> refused = store->CreateJob(second, Created());
  CHECK(refused.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(refused.status().message().find("ftjob-1") != std::string::npos);
  CHECK(store->GetJob("ftjob-2").status().code() == absl::StatusCode::kNotFound);

  absl::StatusOr<std::optional<Job>> found = store->FindJobByIdempotencyKey("key-A");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == "ftjob-1");
  CHECK((*found)->idempotency_key == "key-A");
  CHECK_FALSE(store->FindJobByIdempotencyKey("key-B")->has_value());
  CHECK_FALSE(store->FindJobByIdempotencyKey("")->has_value());

  // No key: no deduplication.
  REQUIRE(store->CreateJob(MinimalJob("ftjob-3", now), Created()).ok());
  REQUIRE(store->CreateJob(MinimalJob("ftjob-4", now), Created()).ok());

  // A key older than the window is free again, and lookups see the new holder.
  Job old = MinimalJob("ftjob-old", now - 25 * kHourMs);
  old.idempotency_key = "key-C";
  REQUIRE(store->CreateJob(old, Created()).ok());
  CHECK_FALSE(store->FindJobByIdempotencyKey("key-C")->has_value());
  Job renewed = MinimalJob("ftjob-renewed", now);
  renewed.idempotency_key = "key-C";
  REQUIRE(store->CreateJob(renewed, Created()).ok());
  CHECK((*store->FindJobByIdempotencyKey("key-C"))->id == "ftjob-renewed");
  CHECK(store->GetJob("ftjob-old")->idempotency_key == "key-C");  // kept as given

  // A key 23 hours old still binds.
  Job recent = MinimalJob("ftjob-recent", now - 23 * kHourMs);
  recent.idempotency_key = "key-D";
  REQUIRE(store->CreateJob(recent, Created()).ok());
  Job again = MinimalJob("ftjob-again", now);
  again.idempotency_key = "key-D";
  CHECK(store->CreateJob(again, Created()).status().code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("job store: reopening the database keeps everything", "[jobs]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  const Job full = FullJob("ftjob-full");
  std::string token;
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    REQUIRE(store
                ->InsertFile(StoredFile{"file-1", "a.jsonl", FilePurpose::kFineTune, 10,
                                        std::string(64, 'f'), 5, 2})
                .ok());
    REQUIRE(store->CreateJob(full, Created()).ok());
    for (int i = 0; i < 3; ++i) AddJob(*store, "ftjob-" + std::to_string(i), 100 + i);
    Job job = full;
    job.state = JobState::kSucceeded;
    REQUIRE(store->AppendEvent(StateEvent(JobState::kRunning, JobState::kSucceeded, "done"), &job)
                .ok());
    absl::StatusOr<JobPage> page = store->ListJobs(2, "", {});
    REQUIRE(page.ok());
    token = page->next_page_token;
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  absl::StatusOr<StoredFile> file = store->GetFile("file-1");
  REQUIRE(file.ok());
  CHECK(file->line_count == 2);
  Job expected = full;
  expected.state = JobState::kSucceeded;
  CheckSame(*store->GetJob(full.id), expected);
  absl::StatusOr<std::vector<JobEvent>> events = store->Events(full.id, 0, 0);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 2);
  CHECK(events->back().state_change->to == JobState::kSucceeded);
  // The sequence goes on where it stopped.
  JobEvent note = PlainEvent("after restart");
  note.job_id = full.id;
  CHECK(store->AppendEvent(note)->sequence == 3);
  // Tokens issued before the restart still work (the signing key is in the database).
  absl::StatusOr<JobPage> next = store->ListJobs(2, token, {});
  INFO(next.status().ToString());
  REQUIRE(next.ok());
  CHECK(Ids(next->jobs) == std::vector<std::string>{"ftjob-1", "ftjob-0"});
  CHECK((*store->FindJobByIdempotencyKey("retry-key-1") == std::nullopt));  // 2023: expired
}

TEST_CASE("job store: what a call reported survives the process being killed", "[jobs]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Its own connection (none may cross a fork), no Catch macros; exit codes say what failed.
    absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
    if (!store.ok()) _exit(1);
    Job job = MinimalJob("ftjob-1", 1000);
    if (!(*store)->CreateJob(job, Created()).ok()) _exit(2);
    job.state = JobState::kRunning;
    job.progress.step = 40;
    if (!(*store)
             ->AppendEvent(StateEvent(JobState::kQueued, JobState::kRunning, "go"), &job)
             .ok()) {
      _exit(3);
    }
    // kill -9 right after the call returned: no destructor, no close, no checkpoint of the WAL.
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("child exit status " << status);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  std::unique_ptr<JobStore> store = OpenStore(path);
  absl::StatusOr<Job> job = store->GetJob("ftjob-1");
  REQUIRE(job.ok());
  CHECK(job->state == JobState::kRunning);
  CHECK(job->progress.step == 40);
  CHECK(*store->LastSequence("ftjob-1") == 2);
  CHECK(store->Events("ftjob-1", 1, 0)->front().state_change->to == JobState::kRunning);
}

TEST_CASE("job store: two connections to one file see each other's writes", "[jobs]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  std::unique_ptr<JobStore> a = OpenStore(path);
  std::unique_ptr<JobStore> b = OpenStore(path);  // as a second process would
  AddJob(*a, "ftjob-1", 1);
  CHECK(b->GetJob("ftjob-1").ok());
  JobEvent from_b = PlainEvent("from b");
  from_b.job_id = "ftjob-1";
  CHECK(b->AppendEvent(from_b)->sequence == 2);
  JobEvent from_a = PlainEvent("from a");
  from_a.job_id = "ftjob-1";
  CHECK(a->AppendEvent(from_a)->sequence == 3);
  // A reader in the middle of a listing does not block a writer.
  absl::StatusOr<JobPage> page = b->ListJobs(1, "", {});
  REQUIRE(page.ok());
  AddJob(*a, "ftjob-2", 2);
  CHECK(b->JobsInStates({})->size() == 2);
  // The idempotency check holds across connections.
  Job keyed = MinimalJob("ftjob-3", NowMs());
  keyed.idempotency_key = "k";
  REQUIRE(a->CreateJob(keyed, Created()).ok());
  keyed.id = "ftjob-4";
  CHECK(b->CreateJob(keyed, Created()).status().code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("job store: threads appending at once get distinct sequences", "[jobs]") {
  testing::TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore((dir.path() / "jobs.db").string());
  AddJob(*store, "ftjob-1", 1);
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, &got, t] {
      for (int i = 0; i < 10; ++i) {
        JobEvent event = PlainEvent("thread " + std::to_string(t));
        event.job_id = "ftjob-1";
        absl::StatusOr<JobEvent> stored = store->AppendEvent(event);
        if (stored.ok()) got[static_cast<size_t>(t)].push_back(stored->sequence);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<int64_t> all;
  for (const std::vector<int64_t>& sequences : got) {
    CHECK(sequences.size() == 10);
    CHECK(std::is_sorted(sequences.begin(), sequences.end()));
    all.insert(sequences.begin(), sequences.end());
  }
  CHECK(all.size() == 40);
  CHECK(*all.begin() == 2);
  CHECK(*all.rbegin() == 41);
  absl::StatusOr<std::vector<JobEvent>> events = store->Events("ftjob-1", 0, 0);
  REQUIRE(events->size() == 41);
  for (size_t i = 0; i < events->size(); ++i) {
    CHECK((*events)[i].sequence == static_cast<int64_t>(i) + 1);
  }
}

TEST_CASE("job store: files that are not a job store are refused, never a crash", "[jobs]") {
  testing::TempDir dir;
  // Text.
  const std::string text = dir.Write("notes.db",
                                     "these are not the bytes you are looking for\n"
                                     "......................................\n")
                               .string();
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(text);
  CHECK(store.status().code() == absl::StatusCode::kDataLoss);
  CHECK(store.status().message().find("not an SQLite database") != std::string::npos);

  // Another application's SQLite database.
  const std::string foreign = (dir.path() / "foreign.db").string();
  {
    absl::StatusOr<std::unique_ptr<sqlite::Database>> db = sqlite::Database::Open(foreign, 100);
    REQUIRE(db.ok());
    REQUIRE((*db)->Exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x')").ok());
  }
  store = JobStore::Open(foreign);
  CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store.status().message().find("another application") != std::string::npos);

  // A job store from a newer build.
  const std::string newer = (dir.path() / "newer.db").string();
  OpenStore(newer).reset();
  {
    absl::StatusOr<std::unique_ptr<sqlite::Database>> db = sqlite::Database::Open(newer, 100);
    REQUIRE(db.ok());
    REQUIRE((*db)->Exec("UPDATE schema_version SET version = 999").ok());
  }
  store = JobStore::Open(newer);
  CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store.status().message().find("newer") != std::string::npos);

  // A folder that does not exist.
  store = JobStore::Open((dir.path() / "missing" / "jobs.db").string());
  CHECK_FALSE(store.ok());

  // An empty file is a new database.
  const std::string empty = dir.Write("empty.db", "").string();
  std::unique_ptr<JobStore> fresh = OpenStore(empty);
  AddJob(*fresh, "ftjob-1", 1);

  // A record damaged on disk is DATA_LOSS for that record, and the rest still reads.
  AddJob(*fresh, "ftjob-2", 2);
  {
    absl::StatusOr<std::unique_ptr<sqlite::Database>> db = sqlite::Database::Open(empty, 1000);
    REQUIRE(db.ok());
    REQUIRE((*db)->Exec("UPDATE jobs SET body = '{\"seed\": 12' WHERE id = 'ftjob-1'").ok());
    REQUIRE((*db)->Exec("UPDATE job_events SET body = '[]' WHERE job_id = 'ftjob-2'").ok());
  }
  CHECK(fresh->GetJob("ftjob-1").status().code() == absl::StatusCode::kDataLoss);
  CHECK(fresh->Events("ftjob-2", 0, 0).status().code() == absl::StatusCode::kDataLoss);
  CHECK(fresh->GetJob("ftjob-2").ok());
}

}  // namespace
}  // namespace trustformers::jobs
