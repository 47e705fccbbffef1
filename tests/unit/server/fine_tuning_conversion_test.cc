#include "server/fine_tuning_conversion.h"

#include "catch2/catch.hpp"
#include "engine/jobs/job_json.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"

namespace trustformers::server {
namespace {

using google::protobuf::util::MessageDifferencer;

template <class Message>
Message FromText(const std::string& text) {
  Message message;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &message));
  return message;
}

template <class Message>
void CheckSame(const Message& a, const Message& b) {
  std::string difference;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  INFO(difference);
  CHECK(differencer.Compare(a, b));
}

// Every engine field of a job, as the store writes them (exact doubles, unset optionals).
std::string Fingerprint(const jobs::Job& job) {
  return absl::StrCat(job.id, "|", jobs::JobStateName(job.state), "|", job.base_model, "|",
                      job.created_at_ms, "|", jobs::EncodeJobBody(job));
}

std::string Fingerprint(const jobs::JobEvent& event) {
  return absl::StrCat(event.job_id, "|", event.sequence, "|", event.created_at_ms, "|",
                      jobs::EncodeEventBody(event));
}

constexpr char kFullHyperparameters[] = R"pb(
  n_epochs: 4
  max_steps: 77
  batch_size: 16
  gradient_accumulation_steps: 2
  learning_rate: 3e-4
  learning_rate_multiplier: 0.5
  warmup_steps: 5
  warmup_ratio: 0.1
  weight_decay: 0.01
  max_grad_norm: 0.5
  lr_scheduler: LR_SCHEDULER_COSINE
  seed: 18446744073709551615
  eval_steps: 3
  save_steps: 6
  max_seq_length: 48
  num_labels: 2
  labels: "neg"
  labels: "pos"
  logging_steps: 1
)pb";

constexpr char kFullJob[] = R"pb(
  id: "ftjob-abc"
  base_model: "all-minilm-l6-v2"
  fine_tuned_model: "ft:all-minilm-l6-v2:topics:ftjob-abc"
  state: JOB_STATE_SUCCEEDED
  task: JOB_TASK_SEQUENCE_CLASSIFICATION
  training_file: "file-1"
  validation_file: "file-2"
  hyperparameters {
    n_epochs: 1
    batch_size: 16
    gradient_accumulation_steps: 1
    learning_rate: 5e-5
    warmup_steps: 0
    weight_decay: 0
    max_grad_norm: 1
    lr_scheduler: LR_SCHEDULER_LINEAR
    seed: 7
    logging_steps: 10
    max_seq_length: 48
    labels: "a"
    labels: "b"
  }
  created_at { seconds: 1700000000 nanos: 123000000 }
  started_at { seconds: 1700000001 }
  finished_at { seconds: 1700000100 nanos: 999000000 }
  estimated_finish { seconds: 1700000090 }
  error { code: "invalid_file" message: "line 3: no label" line: 3 }
  progress {
    step: 8
    total_steps: 8
    epoch: 1
    train_loss: 0.25
    learning_rate: 1e-5
    samples_per_second: 40.5
    eta { seconds: 12 nanos: 500000000 }
  }
  trained_tokens: 4096
  result_files: "file-3"
  checkpoints {
    id: "ftckpt-ftjob-abc-8"
    step: 8
    epoch: 1
    created_at { seconds: 1700000099 }
    metrics { key: "train_loss" value: 0.25 }
    metrics { key: "eval_loss" value: 0.5 }
    path: "/data/jobs/ftjob-abc/checkpoints/checkpoint-8"
  }
  seed: 7
  metadata { key: "team" value: "search" }
  suffix: "topics"
)pb";

TEST_CASE("fine-tuning conversion: hyperparameters round-trip, set fields only", "[fine_tuning]") {
  const auto full = FromText<v1::Hyperparameters>(kFullHyperparameters);
  v1::Hyperparameters back;
  HyperparametersToProto(HyperparametersFromProto(full), &back);
  CheckSame(full, back);

  const jobs::Hyperparameters empty = HyperparametersFromProto(v1::Hyperparameters{});
  CHECK_FALSE(empty.n_epochs.has_value());
  CHECK_FALSE(empty.seed.has_value());
  CHECK(empty.lr_scheduler == jobs::LrSchedule::kUnspecified);
  v1::Hyperparameters none;
  HyperparametersToProto(empty, &none);
  CHECK_FALSE(none.has_n_epochs());
  CHECK_FALSE(none.has_learning_rate());
  CHECK(none.labels_size() == 0);
}

TEST_CASE("fine-tuning conversion: hyperparameters in effect fill the documented defaults",
          "[fine_tuning]") {
  const jobs::Hyperparameters h = InEffect({}, 42);
  CHECK(h.n_epochs == 3);
  CHECK(h.batch_size == 8);
  CHECK(h.gradient_accumulation_steps == 1);
  CHECK(h.learning_rate == 5e-5);
  CHECK_FALSE(h.learning_rate_multiplier.has_value());
  CHECK(h.warmup_steps == 0);
  CHECK(h.weight_decay == 0.0);
  CHECK(h.max_grad_norm == 1.0);
  CHECK(h.lr_scheduler == jobs::LrSchedule::kLinear);
  CHECK(h.seed == 42u);
  CHECK(h.logging_steps == 10);
  // Depends on the data or the base model: left as given.
  CHECK_FALSE(h.max_seq_length.has_value());
  CHECK_FALSE(h.num_labels.has_value());
  CHECK_FALSE(h.eval_steps.has_value());
  jobs::Job once, twice;
  once.hyperparameters = h;
  twice.hyperparameters = InEffect(h, 42);
  CHECK(jobs::EncodeJobBody(twice) == jobs::EncodeJobBody(once));  // idempotent

  jobs::Hyperparameters asked;
  asked.max_steps = 20;
  asked.learning_rate_multiplier = 2.0;
  asked.warmup_ratio = 0.25;
  const jobs::Hyperparameters effective = InEffect(asked, 1);
  CHECK_FALSE(effective.n_epochs.has_value());  // max_steps decides
  CHECK(effective.learning_rate == 1e-4);
  CHECK(effective.learning_rate_multiplier == 2.0);
  CHECK_FALSE(effective.warmup_steps.has_value());  // the ratio gives them at run time
}

TEST_CASE("fine-tuning conversion: a job round-trips both ways, every field", "[fine_tuning]") {
  const auto full = FromText<v1::Job>(kFullJob);
  absl::StatusOr<jobs::Job> job = JobFromProto(full);
  REQUIRE(job.ok());
  CHECK(job->created_at_ms == 1'700'000'000'123);
  CHECK(job->started_at_ms == 1'700'000'001'000);
  CHECK(job->finished_at_ms == 1'700'000'100'999);
  CHECK(job->progress.eta_seconds == 12.5);
  CHECK(job->error->line == 3);
  CHECK(job->state == jobs::JobState::kSucceeded);
  CHECK(job->checkpoints.at(0).metrics.at("eval_loss") == 0.5);
  v1::Job back;
  JobToProto(*job, &back);
  CheckSame(full, back);

  absl::StatusOr<jobs::Job> again = JobFromProto(back);
  REQUIRE(again.ok());
  CHECK(Fingerprint(*again) == Fingerprint(*job));
}

TEST_CASE("fine-tuning conversion: unset times, progress and error stay unset", "[fine_tuning]") {
  jobs::Job job;
  job.id = "ftjob-1";
  job.state = jobs::JobState::kQueued;
  job.created_at_ms = 1000;
  job.seed = 9;
  v1::Job proto;
  JobToProto(job, &proto);
  CHECK(proto.state() == v1::JOB_STATE_QUEUED);
  CHECK(proto.created_at().seconds() == 1);
  CHECK_FALSE(proto.has_started_at());
  CHECK_FALSE(proto.has_finished_at());
  CHECK_FALSE(proto.has_estimated_finish());
  CHECK_FALSE(proto.has_error());
  CHECK_FALSE(proto.has_progress());
  CHECK(proto.task() == v1::JOB_TASK_SEQUENCE_CLASSIFICATION);
  // The hyperparameters in effect, with the job's seed.
  CHECK(proto.hyperparameters().n_epochs() == 3);
  CHECK(proto.hyperparameters().seed() == 9u);
  absl::StatusOr<jobs::Job> back = JobFromProto(proto);
  REQUIRE(back.ok());
  CHECK(back->started_at_ms == 0);
  CHECK_FALSE(back->error.has_value());
  CHECK(back->progress.total_steps == 0);
}

TEST_CASE("fine-tuning conversion: events of every kind round-trip", "[fine_tuning]") {
  const char* events[] = {
      R"pb(job_id: "j"
           sequence: 1
           created_at { seconds: 5 }
           level: EVENT_LEVEL_INFO
           message: "job created"
           state_change { to_state: JOB_STATE_VALIDATING_FILES reason: "job created" })pb",
      R"pb(job_id: "j"
           sequence: 2
           created_at { seconds: 6 nanos: 7000000 }
           level: EVENT_LEVEL_INFO
           message: "cancelled"
           state_change { from_state: JOB_STATE_RUNNING to_state: JOB_STATE_CANCELLED })pb",
      R"pb(job_id: "j"
           sequence: 3
           level: EVENT_LEVEL_INFO
           message: "step"
           training_step {
             step: 10
             total_steps: 80
             epoch: 0.125
             loss: 1.25
             learning_rate: 4e-5
             grad_norm: 3.5
             samples_per_second: 61.25
             eta { seconds: 99 nanos: 250000000 }
           })pb",
      R"pb(job_id: "j"
           sequence: 4
           level: EVENT_LEVEL_INFO
           message: "eval"
           evaluation {
             step: 8
             epoch: 1
             metrics { key: "loss" value: 0.75 }
             metrics { key: "accuracy" value: 0.875 }
           })pb",
      R"pb(job_id: "j"
           sequence: 5
           level: EVENT_LEVEL_INFO
           message: "ckpt"
           checkpoint_saved {
             id: "c"
             step: 8
             epoch: 1
             created_at { seconds: 9 }
             metrics { key: "train_loss" value: 1 }
             path: "/p"
           })pb",
      R"pb(job_id: "j"
           sequence: 6
           level: EVENT_LEVEL_ERROR
           message: "bad line"
           file_validation {
             file_id: "file-1"
             issues { line: 3 message: "no label" level: EVENT_LEVEL_ERROR }
             issues { line: 0 message: "cut" level: EVENT_LEVEL_WARN }
           })pb",
      R"pb(job_id: "j" sequence: 7 level: EVENT_LEVEL_WARN message: "a plain message")pb",
  };
  for (const char* text : events) {
    INFO(text);
    const auto proto = FromText<v1::JobEvent>(text);
    absl::StatusOr<jobs::JobEvent> event = EventFromProto(proto);
    REQUIRE(event.ok());
    v1::JobEvent back;
    EventToProto(*event, &back);
    CheckSame(proto, back);
    absl::StatusOr<jobs::JobEvent> again = EventFromProto(back);
    REQUIRE(again.ok());
    CHECK(Fingerprint(*again) == Fingerprint(*event));
  }
  absl::StatusOr<jobs::JobEvent> first = EventFromProto(FromText<v1::JobEvent>(events[0]));
  REQUIRE(first.ok());
  CHECK_FALSE(first->state_change->from.has_value());
  CHECK(first->state_change->to == jobs::JobState::kValidatingFiles);
  absl::StatusOr<jobs::JobEvent> step = EventFromProto(FromText<v1::JobEvent>(events[2]));
  REQUIRE(step.ok());
  CHECK(step->training_step->eta_seconds == 99.25);
}

TEST_CASE("fine-tuning conversion: files round-trip; purposes and states both ways",
          "[fine_tuning]") {
  const auto file = FromText<v1::File>(R"pb(
    id: "file-9"
    filename: "train.jsonl"
    purpose: FILE_PURPOSE_FINE_TUNE_VALIDATION
    bytes: 1234
    sha256: "ab"
    created_at { seconds: 1700000000 nanos: 5000000 }
    line_count: 32
  )pb");
  absl::StatusOr<jobs::StoredFile> stored = FileFromProto(file);
  REQUIRE(stored.ok());
  CHECK(stored->purpose == jobs::FilePurpose::kFineTuneValidation);
  CHECK(stored->created_at_ms == 1'700'000'000'005);
  v1::File back;
  FileToProto(*stored, &back);
  CheckSame(file, back);

  for (auto purpose : {jobs::FilePurpose::kFineTune, jobs::FilePurpose::kFineTuneValidation,
                       jobs::FilePurpose::kFineTuneResults}) {
    CHECK(*PurposeFromProto(PurposeToProto(purpose)) == purpose);
  }
  CHECK(PurposeFromProto(v1::FILE_PURPOSE_UNSPECIFIED).status().code() ==
        absl::StatusCode::kInvalidArgument);

  for (auto state :
       {jobs::JobState::kValidatingFiles, jobs::JobState::kQueued, jobs::JobState::kRunning,
        jobs::JobState::kSucceeded, jobs::JobState::kFailed, jobs::JobState::kCancelled}) {
    CHECK(*StateFromProto(StateToProto(state)) == state);
  }
  CHECK(StateFromProto(v1::JOB_STATE_UNSPECIFIED).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(StateFromProto(static_cast<v1::JobState>(42)).status().code() ==
        absl::StatusCode::kInvalidArgument);

  CHECK(*TaskFromProto(v1::JOB_TASK_UNSPECIFIED) == jobs::JobTask::kSequenceClassification);
  CHECK(*TaskFromProto(v1::JOB_TASK_CAUSAL_LM) == jobs::JobTask::kCausalLm);
  CHECK(TaskToProto(jobs::JobTask::kSequenceClassification) ==
        v1::JOB_TASK_SEQUENCE_CLASSIFICATION);
  CHECK(LevelFromProto(v1::EVENT_LEVEL_UNSPECIFIED) == jobs::EventLevel::kInfo);
}

TEST_CASE("fine-tuning conversion: a CreateJobRequest becomes the job asked for", "[fine_tuning]") {
  const auto request = FromText<v1::CreateJobRequest>(R"pb(
    base_model: "all-minilm-l6-v2"
    training_file: "file-1"
    validation_file: "file-2"
    hyperparameters { n_epochs: 1 batch_size: 16 seed: 7 labels: "x" labels: "y" }
    suffix: "topics"
    metadata { key: "k" value: "v" }
    idempotency_key: "retry-1"
  )pb");
  absl::StatusOr<jobs::Job> job = JobRequestFromProto(request);
  REQUIRE(job.ok());
  CHECK(job->base_model == "all-minilm-l6-v2");
  CHECK(job->training_file == "file-1");
  CHECK(job->validation_file == "file-2");
  CHECK(job->task == jobs::JobTask::kSequenceClassification);
  CHECK(job->hyperparameters.n_epochs == 1);
  CHECK(job->hyperparameters.seed == 7u);
  CHECK_FALSE(job->hyperparameters.learning_rate.has_value());
  CHECK(job->hyperparameters.labels == std::vector<std::string>{"x", "y"});
  CHECK(job->suffix == "topics");
  CHECK(job->metadata.at("k") == "v");
  CHECK(job->idempotency_key == "retry-1");
  CHECK(job->id.empty());
}

}  // namespace
}  // namespace trustformers::server
