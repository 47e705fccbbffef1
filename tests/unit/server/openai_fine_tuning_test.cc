#include "catch2/catch.hpp"
#include "google/protobuf/text_format.h"
#include "server/http/openai/fine_tuning_json.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;

v1::CreateJobRequest Parse(const std::string& body) {
  absl::StatusOr<v1::CreateJobRequest> request = ParseCreateFineTuningJob(json::parse(body));
  INFO(request.status().ToString());
  REQUIRE(request.ok());
  return *std::move(request);
}

std::pair<std::string, std::string> ErrorOf(const std::string& body) {
  absl::StatusOr<v1::CreateJobRequest> request = ParseCreateFineTuningJob(json::parse(body));
  REQUIRE_FALSE(request.ok());
  const ApiError error = ApiErrorFromStatus(request.status());
  CHECK(error.http_status == 400);
  return {error.param.value_or("<none>"), error.code};
}

template <class Message>
Message FromText(const std::string& text) {
  Message message;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &message));
  return message;
}

TEST_CASE("openai fine-tuning: the SDK's create body", "[openai][fine_tuning]") {
  v1::CreateJobRequest r = Parse(R"({"model": "all-minilm-l6-v2", "training_file": "file-1",
      "validation_file": "file-2", "hyperparameters": {"n_epochs": 1, "batch_size": 16,
      "learning_rate_multiplier": 2}, "suffix": "topics", "seed": 7,
      "metadata": {"team": "search"}})");
  CHECK(r.base_model() == "all-minilm-l6-v2");
  CHECK(r.training_file() == "file-1");
  CHECK(r.validation_file() == "file-2");
  CHECK(r.hyperparameters().n_epochs() == 1);
  CHECK(r.hyperparameters().batch_size() == 16);
  CHECK(r.hyperparameters().learning_rate_multiplier() == 2.0);
  CHECK_FALSE(r.hyperparameters().has_learning_rate());
  CHECK(r.hyperparameters().seed() == 7u);
  CHECK(r.suffix() == "topics");
  CHECK(r.metadata().at("team") == "search");
  CHECK(r.task() == v1::JOB_TASK_UNSPECIFIED);

  // "auto" and null are unset; the SDK sends nulls for what the caller left out.
  r = Parse(R"({"model": "m", "training_file": "f", "validation_file": null, "suffix": null,
      "seed": null, "hyperparameters": {"n_epochs": "auto", "batch_size": "auto",
      "learning_rate_multiplier": "auto"}})");
  CHECK_FALSE(r.hyperparameters().has_n_epochs());
  CHECK_FALSE(r.hyperparameters().has_batch_size());
  CHECK_FALSE(r.hyperparameters().has_learning_rate_multiplier());
  CHECK_FALSE(r.hyperparameters().has_seed());
  CHECK(r.validation_file().empty());

  // Ours: every Hyperparameters field, and the task.
  r = Parse(R"({"model": "m", "training_file": "f", "task": "sequence_classification",
      "hyperparameters": {"max_seq_length": 48, "labels": ["a", "b"], "num_labels": 2,
      "learning_rate": 3e-4, "warmup_ratio": 0.1, "lr_scheduler": "cosine", "eval_steps": 2,
      "save_steps": 4, "logging_steps": 1, "max_steps": 9, "gradient_accumulation_steps": 2,
      "weight_decay": 0.01, "max_grad_norm": 0.5}})");
  const v1::Hyperparameters& h = r.hyperparameters();
  CHECK(h.max_seq_length() == 48);
  CHECK(std::vector<std::string>(h.labels().begin(), h.labels().end()) ==
        std::vector<std::string>{"a", "b"});
  CHECK(h.learning_rate() == 3e-4);
  CHECK(h.lr_scheduler() == v1::LR_SCHEDULER_COSINE);
  CHECK(h.max_steps() == 9);
  CHECK(r.task() == v1::JOB_TASK_SEQUENCE_CLASSIFICATION);

  // The newer method form.
  r = Parse(R"({"model": "m", "training_file": "f", "method": {"type": "supervised",
      "supervised": {"hyperparameters": {"n_epochs": 2}}}})");
  CHECK(r.hyperparameters().n_epochs() == 2);
}

TEST_CASE("openai fine-tuning: bad create bodies name the field", "[openai][fine_tuning]") {
  using P = std::pair<std::string, std::string>;
  CHECK(ErrorOf(R"({"training_file": "f"})") == P{"model", kMissingParameter});
  CHECK(ErrorOf(R"({"model": "m"})") == P{"training_file", kMissingParameter});
  CHECK(ErrorOf(R"({"model": "", "training_file": "f"})") == P{"model", kInvalidValue});
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "hyperparameters": {"n_epochs": "x"}})")
            .first == "hyperparameters.n_epochs");
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f",
                    "hyperparameters": {"learning_rate_multiplier": "fast"}})") ==
        P{"hyperparameters.learning_rate_multiplier", kInvalidType});
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "hyperparameters": {"labels": [1]}})")
            .first == "hyperparameters.labels[0]");
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "hyperparameters": 3})").first ==
        "hyperparameters");
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "method": {"type": "dpo"}})") ==
        P{"method.type", kUnsupportedValue});
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "hyperparameters": {},
                    "method": {"type": "supervised", "supervised": {"hyperparameters": {}}}})")
            .first == "method.supervised.hyperparameters");
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "metadata": {"k": 1}})").first ==
        "metadata.k");
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "task": "translation"})") ==
        P{"task", kInvalidValue});
  CHECK(ErrorOf(R"({"model": "m", "training_file": "f", "integrations": [{"type": "wandb"}]})") ==
        P{"integrations", kUnsupportedParameter});
  CHECK_FALSE(ParseCreateFineTuningJob(json::array()).ok());
}

TEST_CASE("openai fine-tuning: a job in OpenAI's shape", "[openai][fine_tuning]") {
  const auto job = FromText<v1::Job>(R"pb(
    id: "ftjob-1"
    base_model: "all-minilm-l6-v2"
    state: JOB_STATE_FAILED
    training_file: "file-1"
    validation_file: "file-2"
    hyperparameters { n_epochs: 1 batch_size: 16 learning_rate: 1e-4 seed: 7 }
    created_at { seconds: 100 nanos: 900000000 }
    finished_at { seconds: 160 }
    error { code: "invalid_file" message: "/data/files/file-2.jsonl:3: no label" line: 3 }
    seed: 7
    metadata { key: "k" value: "v" }
  )pb");
  const json j = FineTuningJobJson(job);
  CHECK(j["object"] == "fine_tuning.job");
  CHECK(j["id"] == "ftjob-1");
  CHECK(j["model"] == "all-minilm-l6-v2");
  CHECK(j["status"] == "failed");
  CHECK(j["created_at"] == 100);
  CHECK(j["finished_at"] == 160);
  CHECK(j["fine_tuned_model"].is_null());
  CHECK(j["estimated_finish"].is_null());
  CHECK(j["hyperparameters"]["n_epochs"] == 1);
  CHECK(j["hyperparameters"]["batch_size"] == 16);
  CHECK(j["hyperparameters"]["learning_rate_multiplier"].get<double>() == Approx(2.0));
  CHECK(j["error"]["code"] == "invalid_file");
  CHECK(j["error"]["param"] == "validation_file");
  CHECK(j["error"]["line"] == 3);
  CHECK(j["seed"] == 7);
  CHECK(j["metadata"]["k"] == "v");
  CHECK(j["result_files"] == json::array());
  CHECK(j["method"]["type"] == "supervised");

  const auto running = FromText<v1::Job>(R"pb(
    id: "ftjob-2"
    state: JOB_STATE_RUNNING
    estimated_finish { seconds: 200 }
    progress {
      step: 2
      total_steps: 8
      train_loss: 1.5
      eta { seconds: 3 }
    }
  )pb");
  const json r = FineTuningJobJson(running);
  CHECK(r["status"] == "running");
  CHECK(r["error"].is_null());
  CHECK(r["finished_at"].is_null());
  CHECK(r["estimated_finish"] == 200);
  CHECK(r["validation_file"].is_null());
  CHECK(r["metadata"].is_null());
  CHECK(r["progress"]["total_steps"] == 8);
  CHECK(r["hyperparameters"]["n_epochs"] == "auto");
}

TEST_CASE("openai fine-tuning: events, their ids, checkpoints and files", "[openai][fine_tuning]") {
  CHECK(EventId("ftjob-1", 12) == "ftevent-ftjob-1-12");
  CHECK(EventSequence("ftjob-1", "ftevent-ftjob-1-12") == 12);
  CHECK_FALSE(EventSequence("ftjob-2", "ftevent-ftjob-1-12").has_value());
  CHECK_FALSE(EventSequence("ftjob-1", "ftevent-ftjob-1-x").has_value());
  CHECK_FALSE(EventSequence("ftjob-1", "ftevent-ftjob-1-0").has_value());

  const json step = FineTuningEventJson(FromText<v1::JobEvent>(R"pb(
    job_id: "ftjob-1"
    sequence: 5
    created_at { seconds: 50 }
    level: EVENT_LEVEL_INFO
    message: "step 8/16"
    training_step { step: 8 total_steps: 16 loss: 0.5 learning_rate: 1e-5 }
  )pb"));
  CHECK(step["object"] == "fine_tuning.job.event");
  CHECK(step["id"] == "ftevent-ftjob-1-5");
  CHECK(step["created_at"] == 50);
  CHECK(step["level"] == "info");
  CHECK(step["type"] == "metrics");
  CHECK(step["data"]["step"] == 8);
  CHECK(step["data"]["train_loss"] == 0.5);

  const json change = FineTuningEventJson(FromText<v1::JobEvent>(R"pb(
    job_id: "ftjob-1"
    sequence: 1
    level: EVENT_LEVEL_ERROR
    message: "failed"
    state_change { from_state: JOB_STATE_VALIDATING_FILES to_state: JOB_STATE_FAILED }
  )pb"));
  CHECK(change["type"] == "message");
  CHECK(change["level"] == "error");
  CHECK(change["data"]["from"] == "validating_files");
  CHECK(change["data"]["to"] == "failed");

  const json eval = FineTuningEventJson(FromText<v1::JobEvent>(R"pb(
    job_id: "j"
    sequence: 2
    evaluation {
      step: 8
      metrics { key: "loss" value: 0.25 }
    }
  )pb"));
  CHECK(eval["data"]["valid_loss"] == 0.25);
  CHECK(eval["data"]["full_valid_loss"] == 0.25);

  const auto job = FromText<v1::Job>(R"pb(id: "ftjob-1" base_model: "m" suffix: "s")pb");
  const json checkpoint = CheckpointJson(job, FromText<v1::Checkpoint>(R"pb(
                                           id: "ftckpt-ftjob-1-8"
                                           step: 8
                                           created_at { seconds: 70 }
                                           metrics { key: "train_loss" value: 0.5 }
                                           metrics { key: "eval_loss" value: 0.75 }
                                         )pb"));
  CHECK(checkpoint["object"] == "fine_tuning.job.checkpoint");
  CHECK(checkpoint["step_number"] == 8);
  CHECK(checkpoint["fine_tuning_job_id"] == "ftjob-1");
  CHECK(checkpoint["fine_tuned_model_checkpoint"] == "ft:m:s:ftjob-1:ckpt-step-8");
  CHECK(checkpoint["metrics"]["train_loss"] == 0.5);
  CHECK(checkpoint["metrics"]["valid_loss"] == 0.75);
  CHECK(checkpoint["metrics"]["step"] == 8);

  const json file = FileJson(FromText<v1::File>(R"pb(
    id: "file-1"
    filename: "t.jsonl"
    purpose: FILE_PURPOSE_FINE_TUNE
    bytes: 10
    created_at { seconds: 9 }
    line_count: 2
  )pb"));
  CHECK(file["object"] == "file");
  CHECK(file["purpose"] == "fine-tune");
  CHECK(file["bytes"] == 10);
  CHECK(file["status"] == "processed");
  CHECK(*FilePurposeFromOpenAi("fine-tune") == v1::FILE_PURPOSE_FINE_TUNE);
  CHECK(ApiErrorFromStatus(FilePurposeFromOpenAi("batch").status()).param == "purpose");
}

}  // namespace
}  // namespace trustformers::server::openai
