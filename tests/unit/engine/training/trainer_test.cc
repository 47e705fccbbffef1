// The Trainer: 20 steps fine-tuning the real all-MiniLM-L6-v2 against transformers + torch
// (loss, learning rate and gradient norm of every step, and the head afterwards; recorded by
// tests/golden/bert_train/make_fixtures.py), exact resumption from checkpoints, crash-safe
// checkpoint folders, arguments and metrics.
#include "engine/training/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "catch2/catch.hpp"
#include "engine/training/checkpoint.h"
#include "engine/training/classification_metrics.h"
#include "models/loader/safetensors.h"
#include "models/nn/state_dict.h"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::training {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The fixture's batches as unpadded examples, in order.
std::shared_ptr<nn::ExampleDataset> FixtureExamples(const json& batches) {
  auto dataset = std::make_shared<nn::ExampleDataset>();
  for (const json& b : batches) {
    const auto ids = b["input_ids"].get<std::vector<std::vector<int32_t>>>();
    const auto types = b["token_type_ids"].get<std::vector<std::vector<int32_t>>>();
    const auto mask = b["attention_mask"].get<std::vector<std::vector<int>>>();
    const auto labels = b["labels"].get<std::vector<int64_t>>();
    for (size_t r = 0; r < ids.size(); ++r) {
      nn::TextExample e;
      for (size_t t = 0; t < ids[r].size(); ++t) {
        if (mask[r][t] == 0) continue;
        e.ids.push_back(ids[r][t]);
        e.type_ids.push_back(types[r][t]);
      }
      e.label = labels[r];
      dataset->Add(std::move(e));
    }
  }
  return dataset;
}

double Relative(double ours, double theirs) {
  return std::abs(ours - theirs) / std::max(std::abs(theirs), 1e-12);
}

TEST_CASE("Trainer: 20 AdamW steps on all-MiniLM-L6-v2 match transformers + torch",
          "[training][real-model]") {
  const json fixture = testing::ReadGolden("bert_train/minilm_steps.json");
  nn::BertClassifierOptions options;
  options.num_labels = 4;
  options.dropout = 0.0;
  auto model = nn::BertForSequenceClassification::FromPretrained(testing::MiniLmDir(), options);
  REQUIRE(model.ok());
  // The head torch drew for the same run.
  REQUIRE(nn::load_state_dict(**model,
                              testing::GoldenDir() + "/bert_train/minilm_head_init.safetensors",
                              /*strict=*/false)
              .ok());
  testing::TempDir dir;
  auto args = TrainingArgumentsBuilder()
                  .output_dir((dir.path() / "run").string())
                  .max_steps(20)
                  .per_device_train_batch_size(8)
                  .learning_rate(1e-4)
                  .weight_decay(0.01)
                  .warmup_steps(2)
                  .max_grad_norm(1.0)
                  .logging_steps(1)
                  .save_steps(0)
                  .train_shuffle(false)
                  .Build();
  REQUIRE(args.ok());
  std::vector<TrainerEvent> logs;
  TrainerHooks hooks;
  hooks.on_event = [&](const TrainerEvent& e) {
    if (e.kind == TrainerEvent::Kind::kLog) logs.push_back(e);
  };
  Trainer trainer(model->get(), *args, FixtureExamples(fixture["batches"]), nullptr, hooks);
  auto result = trainer.Train();
  REQUIRE(result.ok());
  CHECK(result->global_step == 20);
  const json& steps = fixture["steps"];
  REQUIRE(logs.size() == steps.size());
  double worst_loss = 0;
  for (size_t i = 0; i < logs.size(); ++i) {
    INFO("step " << i);
    const double loss = steps[i]["loss"].get<double>();
    worst_loss = std::max(worst_loss, Relative(logs[i].loss, loss));
    CHECK(Relative(logs[i].loss, loss) < 1e-3);
    CHECK(std::abs(logs[i].learning_rate - steps[i]["lr"].get<double>()) < 1e-12);
    CHECK(Relative(logs[i].grad_norm, steps[i]["grad_norm"].get<double>()) < 1e-3);
  }
  WARN("largest relative loss difference over 20 steps: " << worst_loss);
  // The head after 20 steps.
  auto head = models::SafetensorsFile::Open(testing::GoldenDir() +
                                            "/bert_train/minilm_final_head.safetensors");
  REQUIRE(head.ok());
  for (const auto& [name, param] : (*model)->named_parameters()) {
    const models::SafetensorsTensor* want = (*head)->Find(name);
    if (want == nullptr) continue;
    const auto* reference = reinterpret_cast<const float*>(want->bytes.data());
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < param.numel(); ++i) {
      diff = std::max(diff, std::abs(double{param.data()[i]} - double{reference[i]}));
      scale = std::max(scale, std::abs(double{reference[i]}));
    }
    INFO(name);
    CHECK(diff / scale < 1e-3);
  }
}

// A small random classification set for the tiny model (vocabulary 64).
std::shared_ptr<nn::ExampleDataset> TinyExamples(int count, uint64_t seed) {
  nn::Generator g(seed);
  auto dataset = std::make_shared<nn::ExampleDataset>();
  for (int i = 0; i < count; ++i) {
    nn::TextExample e;
    const int length = 3 + static_cast<int>(g.NextU64() % 8);
    e.ids.push_back(2);
    for (int t = 1; t < length - 1; ++t)
      e.ids.push_back(5 + static_cast<int32_t>(g.NextU64() % 50));
    e.ids.push_back(3);
    e.label = static_cast<int64_t>(e.ids[1] % 3);
    dataset->Add(std::move(e));
  }
  return dataset;
}

std::unique_ptr<nn::BertForSequenceClassification> TinyModel() {
  nn::BertClassifierOptions options;
  options.num_labels = 3;
  options.dropout = 0.1;  // on, so resuming must restore the dropout generator too
  options.seed = 3;
  auto model = nn::BertForSequenceClassification::FromPretrained(
      testing::GoldenDir() + "/bert_train/tiny", options);
  REQUIRE(model.ok());
  return *std::move(model);
}

TrainingArguments TinyArgs(const std::string& out) {
  auto args = TrainingArgumentsBuilder()
                  .output_dir(out)
                  .num_train_epochs(3)
                  .per_device_train_batch_size(4)
                  .gradient_accumulation_steps(2)
                  .learning_rate(1e-3)
                  .weight_decay(0.01)
                  .warmup_ratio(0.1)
                  .logging_steps(2)
                  .eval_strategy(EvalStrategy::kEpoch)
                  .save_steps(3)
                  .save_total_limit(2)
                  .seed(11)
                  .Build();
  REQUIRE(args.ok());
  return *args;
}

TEST_CASE("Trainer: a run stopped and resumed ends with the same weights as one never stopped",
          "[training]") {
  auto train = TinyExamples(27, 1);  // 7 batches of 4 per epoch: 4 steps of 2, the last of 1
  auto eval = TinyExamples(10, 2);
  testing::TempDir dir;

  auto straight = TinyModel();
  std::vector<TrainerEvent> events;
  TrainerHooks record;
  record.on_event = [&](const TrainerEvent& e) { events.push_back(e); };
  Trainer full(straight.get(), TinyArgs((dir.path() / "straight").string()), train, eval, record);
  auto done = full.Train();
  REQUIRE(done.ok());
  CHECK(done->global_step == 12);
  REQUIRE(done->eval_metrics.has_value());
  CHECK(done->eval_metrics->examples == 10);
  int evaluations = 0, checkpoints = 0;
  for (const TrainerEvent& e : events) {
    evaluations += e.kind == TrainerEvent::Kind::kEvaluation;
    checkpoints += e.kind == TrainerEvent::Kind::kCheckpoint;
    if (e.kind == TrainerEvent::Kind::kLog) {
      CHECK(std::isfinite(e.loss));
      CHECK(e.samples_per_second > 0);
      CHECK(e.eta_seconds >= 0);
    }
  }
  CHECK(evaluations == 3);  // one per epoch
  CHECK(checkpoints == 4);  // steps 3, 6, 9, 12
  // save_total_limit 2 keeps the two newest.
  CHECK(fs::exists(dir.path() / "straight" / "checkpoint-12" / kCompleteMarker));
  CHECK(fs::exists(dir.path() / "straight" / "checkpoint-9"));
  CHECK_FALSE(fs::exists(dir.path() / "straight" / "checkpoint-6"));

  // Stop after step 8 (the last checkpoint is step 6), then resume from the latest.
  const std::string out = (dir.path() / "resumed").string();
  auto first = TinyModel();
  int steps_seen = 0;
  TrainerHooks stop;
  stop.on_event = [&](const TrainerEvent& e) {
    if (e.kind == TrainerEvent::Kind::kLog) steps_seen = static_cast<int>(e.step);
  };
  stop.should_stop = [&] { return steps_seen >= 8; };
  auto stopped = Trainer(first.get(), TinyArgs(out), train, eval, stop).Train();
  CHECK(stopped.status().code() == absl::StatusCode::kCancelled);
  CHECK(LatestCheckpoint(out) == (fs::path(out) / "checkpoint-6").string());
  // A write that crashed half-way leaves a folder without the marker: never resumed from.
  fs::create_directories(fs::path(out) / "checkpoint-8");
  std::ofstream(fs::path(out) / "checkpoint-8" / "model.safetensors") << "torn";
  CHECK(LatestCheckpoint(out) == (fs::path(out) / "checkpoint-6").string());

  auto second = TinyModel();  // a fresh process: new weights, new generator
  auto resumed = Trainer(second.get(), TinyArgs(out), train, eval).Train("latest");
  REQUIRE(resumed.ok());
  CHECK(resumed->global_step == 12);
  const auto want = straight->named_parameters();
  const auto got = second->named_parameters();
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(want[i].first);
    CHECK(want[i].second.to_vec() == got[i].second.to_vec());
  }
  CHECK(resumed->eval_metrics->accuracy == done->eval_metrics->accuracy);

  // A checkpoint's position in the data means nothing with other batches: refused.
  TrainingArguments other = TinyArgs(out);
  other.per_device_train_batch_size = 8;
  auto mismatched = Trainer(TinyModel().get(), other, train, eval).Train(LatestCheckpoint(out));
  CHECK(mismatched.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(mismatched.status().message()).find("batch size 4 (now 8)") !=
        std::string::npos);
  auto smaller = Trainer(TinyModel().get(), TinyArgs(out), TinyExamples(20, 1), eval)
                     .Train(LatestCheckpoint(out));
  CHECK(smaller.status().code() == absl::StatusCode::kFailedPrecondition);

  auto missing = Trainer(TinyModel().get(), TinyArgs(out), train, eval)
                     .Train((fs::path(out) / "checkpoint-8").string());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("Trainer: bad arguments and data are refused", "[training]") {
  CHECK(TrainingArgumentsBuilder().Build().status().code() ==
        absl::StatusCode::kInvalidArgument);  // no output_dir
  CHECK(TrainingArgumentsBuilder().output_dir("x").learning_rate(0).Build().status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TrainingArgumentsBuilder().output_dir("x").warmup_ratio(1.5).Build().status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TrainingArgumentsBuilder()
            .output_dir("x")
            .per_device_train_batch_size(0)
            .Build()
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseEvalStrategy("sometimes").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseLrSchedulerType("cosine").value() == nn::LrScheduleKind::kCosine);

  testing::TempDir dir;
  auto model = TinyModel();
  auto bad = TinyExamples(8, 4);
  nn::TextExample out_of_range;
  out_of_range.ids = {2, 7, 3};
  out_of_range.label = 3;  // the head has 3 labels
  bad->Add(out_of_range);
  auto refused = Trainer(model.get(), TinyArgs(dir.path().string()), bad, nullptr).Train();
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(refused.status().message()).find("label 3") != std::string::npos);
  auto empty = Trainer(model.get(), TinyArgs(dir.path().string()),
                       std::make_shared<nn::ExampleDataset>(), nullptr)
                   .Train();
  CHECK(empty.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Classification metrics are scikit-learn's accuracy and macro-F1", "[training]") {
  // sklearn.metrics.f1_score([0,0,1,1,2,2], [0,1,1,1,2,0], average="macro") = 0.6555...
  auto m = ComputeClassificationMetrics({0, 0, 1, 1, 2, 2}, {0, 1, 1, 1, 2, 0}, 4, 0.5);
  REQUIRE(m.ok());
  CHECK(m->accuracy == Approx(4.0 / 6.0));
  CHECK(m->macro_f1 == Approx((0.5 + 0.8 + 2.0 / 3.0) / 3.0));
  CHECK(m->loss == 0.5);
  CHECK(ComputeClassificationMetrics({0}, {4}, 4, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ComputeClassificationMetrics({0, 1}, {0}, 4, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::training
