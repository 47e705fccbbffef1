// The JobManager on the real all-MiniLM-L6-v2: a job from upload to a registered model, a bad
// file failing in validation with its line, cancellation at a step boundary, a manager stopped
// mid-training that resumes from its checkpoint to the same weights, and request checks.
#include "engine/jobs/job_manager.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "catch2/catch.hpp"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Lines [begin, end) of the committed topic sentences.
std::string TopicLines(int begin, int end) {
  std::ifstream in(testing::GoldenDir() + "/bert_train/texts.jsonl");
  std::string line, out;
  for (int i = 0; std::getline(in, line) && i < end; ++i) {
    if (i >= begin) out += line + "\n";
  }
  return out;
}

struct Registered {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> models;  // name, folder
};

class Fixture {
 public:
  explicit Fixture(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir);
    auto store = JobStore::Open((dir / "jobs.sqlite").string());
    REQUIRE(store.ok());
    store_ = *std::move(store);
    auto files = FileStore::Open(dir.string(), store_.get(), FileStoreLimits{});
    REQUIRE(files.ok());
    files_ = *std::move(files);
  }

  std::unique_ptr<JobManager> Manager(std::shared_ptr<Registered> registered) {
    JobManagerOptions options;
    options.data_dir = dir_.string();
    JobManagerHooks hooks;
    hooks.resolve_base_model = [](const std::string& name) -> absl::StatusOr<BaseModel> {
      if (name != "minilm") return absl::NotFoundError("no model named '" + name + "'");
      BaseModel base;
      base.folder = testing::MiniLmDir();
      return base;
    };
    hooks.register_model = [registered](const std::string& name, const std::string& folder,
                                        const std::string&) {
      std::lock_guard lock(registered->mutex);
      registered->models.emplace_back(name, folder);
      return absl::OkStatus();
    };
    auto manager = std::make_unique<JobManager>(options, store_.get(), files_.get(), hooks);
    REQUIRE(manager->Start().ok());
    return manager;
  }

  std::string Upload(const std::string& contents, FilePurpose purpose = FilePurpose::kFineTune) {
    auto upload = files_->StartUpload("data.jsonl", purpose, std::nullopt, "");
    REQUIRE(upload.ok());
    REQUIRE((*upload)->Append(contents).ok());
    auto file = (*upload)->Commit();
    REQUIRE(file.ok());
    return file->id;
  }

  JobStore& store() { return *store_; }

 private:
  fs::path dir_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<FileStore> files_;
};

Job Request(const std::string& train, int64_t max_steps) {
  Job job;
  job.base_model = "minilm";
  job.training_file = train;
  job.suffix = "topics";
  job.hyperparameters.max_steps = max_steps;
  job.hyperparameters.batch_size = 8;
  job.hyperparameters.max_seq_length = 32;
  job.hyperparameters.seed = 5;
  job.hyperparameters.logging_steps = 1;
  return job;
}

Job WaitFor(JobManager& manager, const std::string& id, std::function<bool(const Job&)> done,
            std::chrono::seconds limit = 120s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto job = manager.GetJob(id);
    REQUIRE(job.ok());
    if (done(*job)) return *job;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
}

std::vector<JobEvent> EventsOf(JobStore& store, const std::string& id) {
  auto events = store.Events(id, 0, 100000);
  REQUIRE(events.ok());
  return *events;
}

TEST_CASE("JobManager: a job goes from its files to a registered model", "[jobs][real-model]") {
  testing::TempDir dir;
  Fixture f(dir.path());
  auto registered = std::make_shared<Registered>();
  auto manager = f.Manager(registered);
  Job request = Request(f.Upload(TopicLines(0, 64)), 4);
  request.validation_file = f.Upload(TopicLines(128, 160), FilePurpose::kFineTuneValidation);
  request.hyperparameters.save_steps = 2;
  auto created = manager->CreateJob(request);
  REQUIRE(created.ok());
  CHECK(created->state == JobState::kValidatingFiles);
  CHECK(created->seed == 5);
  const Job done = WaitFor(*manager, created->id, [](const Job& j) { return IsTerminal(j.state); });
  INFO((done.error ? done.error->message : ""));
  REQUIRE(done.state == JobState::kSucceeded);
  CHECK(done.fine_tuned_model == "ft:minilm:topics:" + created->id);
  CHECK(done.progress.step == 4);
  CHECK(done.trained_tokens > 0);
  // The metrics CSV: a header and one row per logged step, the evaluation in the last.
  REQUIRE(done.result_files.size() == 1);
  {
    auto file = f.store().GetFile(done.result_files[0]);
    REQUIRE(file.ok());
    CHECK(file->purpose == FilePurpose::kFineTuneResults);
    CHECK(file->line_count == 5);
  }
  CHECK_FALSE(done.checkpoints.empty());
  {
    std::lock_guard lock(registered->mutex);
    REQUIRE(registered->models.size() == 1);
    CHECK(registered->models[0].first == done.fine_tuned_model);
    CHECK(fs::exists(fs::path(registered->models[0].second) / "model.safetensors"));
  }
  // The log: created, files checked, queued, running, steps, evaluation, checkpoints, succeeded;
  // sequence numbers 1, 2, 3, ...
  const auto events = EventsOf(f.store(), created->id);
  std::vector<JobState> states;
  int steps = 0, evaluations = 0, checkpoints = 0, validations = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].sequence == static_cast<int64_t>(i) + 1);
    if (events[i].state_change) states.push_back(events[i].state_change->to);
    steps += events[i].training_step.has_value();
    evaluations += events[i].evaluation.has_value();
    checkpoints += events[i].checkpoint_saved.has_value();
    validations += events[i].file_validation.has_value();
  }
  CHECK(states == std::vector<JobState>{JobState::kValidatingFiles, JobState::kQueued,
                                        JobState::kRunning, JobState::kSucceeded});
  CHECK(steps == 4);
  CHECK(evaluations >= 1);
  CHECK(checkpoints == 2);
  CHECK(validations == 2);

  // Watching a finished job replays its log from any point.
  struct Collect : JobWatcher {
    std::vector<int64_t> seen;
    void OnEvent(const JobEvent& e) override { seen.push_back(e.sequence); }
  };
  auto watcher = std::make_shared<Collect>();
  auto state = manager->Watch(created->id, 3, true, watcher);
  REQUIRE(state.ok());
  CHECK(*state == JobState::kSucceeded);
  REQUIRE(watcher->seen.size() == events.size() - 3);
  CHECK(watcher->seen.front() == 4);

  // After a restart the result is served again; once deleted, it is not.
  manager.reset();
  auto again = std::make_shared<Registered>();
  manager = f.Manager(again);
  REQUIRE(again->models.size() == 1);
  CHECK(again->models[0].first == done.fine_tuned_model);
  REQUIRE(manager->ForgetModel(done.fine_tuned_model).ok());
  CHECK(manager->ForgetModel("ft:minilm:topics:ftjob-unknown").code() ==
        absl::StatusCode::kNotFound);
  manager.reset();
  auto after_delete = std::make_shared<Registered>();
  manager = f.Manager(after_delete);
  CHECK(after_delete->models.empty());
}

TEST_CASE("JobManager: a bad file fails the job while validating, naming the line",
          "[jobs][real-model]") {
  testing::TempDir dir;
  Fixture f(dir.path());
  auto manager = f.Manager(std::make_shared<Registered>());
  // Valid JSON Lines (the upload checks that much), but line 3 has no text.
  const std::string lines = TopicLines(0, 2) + "{\"label\": \"sports\"}\n" + TopicLines(2, 8);
  auto created = manager->CreateJob(Request(f.Upload(lines), 2));
  REQUIRE(created.ok());
  const Job done = WaitFor(*manager, created->id, [](const Job& j) { return IsTerminal(j.state); });
  REQUIRE(done.state == JobState::kFailed);
  REQUIRE(done.error.has_value());
  CHECK(done.error->code == "invalid_file");
  CHECK(done.error->line == 3);
}

TEST_CASE("JobManager: unknown labels fail validation; requests are checked at once",
          "[jobs][real-model]") {
  testing::TempDir dir;
  Fixture f(dir.path());
  auto manager = f.Manager(std::make_shared<Registered>());
  const std::string train = f.Upload(TopicLines(0, 16));
  Job labelled = Request(train, 2);
  labelled.hyperparameters.labels = {"computing", "cooking", "sports"};  // no "weather"
  auto created = manager->CreateJob(labelled);
  REQUIRE(created.ok());
  const Job done = WaitFor(*manager, created->id, [](const Job& j) { return IsTerminal(j.state); });
  REQUIRE(done.state == JobState::kFailed);
  CHECK(done.error->message.find("weather") != std::string::npos);
  CHECK(done.error->line.has_value());

  Job bad = Request(train, 2);
  bad.base_model = "nothing";
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kNotFound);
  bad = Request(train, 2);
  bad.suffix = "Upper Case";
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = Request(train, 2);
  bad.hyperparameters.learning_rate = 1e-4;
  bad.hyperparameters.learning_rate_multiplier = 2;
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = Request(train, 2);
  bad.hyperparameters.eval_steps = 2;  // no validation file
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = Request("file-000000000000000000000000", 2);
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kNotFound);
  bad = Request(f.Upload(TopicLines(0, 4), FilePurpose::kFineTuneValidation), 2);
  CHECK(manager->CreateJob(bad).status().code() == absl::StatusCode::kInvalidArgument);

  // The same idempotency key: the same job back, or ALREADY_EXISTS for another request.
  Job keyed = Request(train, 2);
  keyed.idempotency_key = "retry-1";
  auto first = manager->CreateJob(keyed);
  REQUIRE(first.ok());
  auto again = manager->CreateJob(keyed);
  REQUIRE(again.ok());
  CHECK(again->id == first->id);
  keyed.suffix = "other";
  CHECK(manager->CreateJob(keyed).status().code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("JobManager: cancel stops a running job at a step boundary and is idempotent",
          "[jobs][real-model]") {
  testing::TempDir dir;
  Fixture f(dir.path());
  auto registered = std::make_shared<Registered>();
  auto manager = f.Manager(registered);
  auto created = manager->CreateJob(Request(f.Upload(TopicLines(0, 64)), 1000));
  REQUIRE(created.ok());
  WaitFor(*manager, created->id, [](const Job& j) { return j.progress.step >= 2; });
  auto cancelled = manager->CancelJob(created->id);
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state == JobState::kCancelled);
  const int64_t last = EventsOf(f.store(), created->id).back().sequence;
  std::this_thread::sleep_for(1500ms);  // several steps' worth
  const auto events = EventsOf(f.store(), created->id);
  CHECK(events.back().sequence == last);  // nothing recorded after the cancel
  REQUIRE(events.back().state_change.has_value());
  CHECK(events.back().state_change->to == JobState::kCancelled);
  auto twice = manager->CancelJob(created->id);
  REQUIRE(twice.ok());
  CHECK(twice->state == JobState::kCancelled);
  CHECK(twice->finished_at_ms == cancelled->finished_at_ms);
  CHECK(registered->models.empty());
  CHECK(manager->CancelJob("ftjob-unknown").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("JobManager: a job interrupted mid-training resumes to the same weights",
          "[jobs][real-model]") {
  testing::TempDir dir;
  // Uninterrupted.
  std::string straight_model;
  {
    Fixture f(dir.path() / "straight");
    auto registered = std::make_shared<Registered>();
    auto manager = f.Manager(registered);
    Job request = Request(f.Upload(TopicLines(0, 64)), 8);
    request.hyperparameters.save_steps = 2;
    auto created = manager->CreateJob(request);
    REQUIRE(created.ok());
    const Job done =
        WaitFor(*manager, created->id, [](const Job& j) { return IsTerminal(j.state); });
    REQUIRE(done.state == JobState::kSucceeded);
    straight_model = registered->models.at(0).second + "/model.safetensors";
  }
  // Stopped after its first checkpoint (the process going away), then a new manager.
  Fixture f(dir.path() / "resumed");
  std::string id;
  {
    auto manager = f.Manager(std::make_shared<Registered>());
    Job request = Request(f.Upload(TopicLines(0, 64)), 8);
    request.hyperparameters.save_steps = 2;
    auto created = manager->CreateJob(request);
    REQUIRE(created.ok());
    id = created->id;
    WaitFor(*manager, id, [](const Job& j) { return !j.checkpoints.empty(); });
    manager->Shutdown();
    auto job = manager->GetJob(id);
    REQUIRE(job.ok());
    CHECK(job->state == JobState::kRunning);  // left to resume
  }
  auto registered = std::make_shared<Registered>();
  auto manager = f.Manager(registered);
  const Job done = WaitFor(*manager, id, [](const Job& j) { return IsTerminal(j.state); });
  INFO((done.error ? done.error->message : ""));
  REQUIRE(done.state == JobState::kSucceeded);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string resumed = read(registered->models.at(0).second + "/model.safetensors");
  CHECK(resumed.size() > 80'000'000);
  CHECK(resumed == read(straight_model));
}

}  // namespace
}  // namespace trustformers::jobs
