#include "engine/model_registry.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "catch2/catch.hpp"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::engine {
namespace {

using testing::TempDir;

config::Config ConfigWith(const TempDir& dir, std::vector<config::ModelConfig> models) {
  config::Config config;
  config.model_dir = dir.path().string();
  config.models = std::move(models);
  return config;
}

TEST_CASE("registry: configured models become READY with their tasks", "[engine]") {
  TempDir dir;
  const std::string classifier = testing::AssembleClassifier(dir, "classifier_config.json");

  ModelRegistry registry(ConfigWith(dir, {{"enc", testing::MiniLmDir(), "cpu"},
                                          {"cls", classifier, "cpu"},
                                          {"gen",
                                           testing::ModelsDir() + "/smollm2-135m-instruct/"
                                                                  "SmolLM2-135M-Instruct.Q4_1.gguf",
                                           "cpu"}}));
  CHECK_FALSE(registry.AllReady());
  CHECK(registry.List()[0].state == ModelState::kLoading);
  const absl::Status loaded = registry.LoadConfiguredModels();
  INFO(loaded.ToString());
  REQUIRE(loaded.ok());
  CHECK(registry.AllReady());

  const std::vector<ModelEntry> entries = registry.List();
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].name == "enc");
  CHECK(entries[0].tasks == std::vector<ModelTask>{ModelTask::kEmbed});
  CHECK(entries[0].base_model);
  REQUIRE(entries[0].encoder != nullptr);
  CHECK(entries[0].embedding_dimensions == 384);
  CHECK(entries[0].max_context_tokens == 256);
  CHECK(entries[1].labels == std::vector<std::string>{"negative", "neutral", "positive"});
  CHECK(entries[1].tasks == std::vector<ModelTask>{ModelTask::kClassify, ModelTask::kEmbed});
  CHECK(entries[2].tasks == std::vector<ModelTask>{ModelTask::kGenerate});
  CHECK(entries[2].format == models::ModelFormat::kGguf);
  CHECK(entries[2].weight_bytes == 98362432);
  CHECK(entries[2].architecture == "llama");
  CHECK(entries[2].parameter_count > 130'000'000);
  CHECK(entries[2].max_context_tokens == 8192);

  // A file with the GGUF magic but a broken body fails at start-up with the reason.
  std::string gguf = "GGUF";
  gguf += std::string("\x03\0\0\0", 4) + std::string(16, '\0');
  dir.Write("empty.gguf", gguf);
  ModelRegistry broken(ConfigWith(dir, {{"empty", "empty.gguf", "cpu"}}));
  const absl::Status status = broken.LoadConfiguredModels();
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(status.message().find("general.architecture") != std::string::npos);
}

TEST_CASE("registry: a model that fails to load is FAILED with the reason", "[engine]") {
  TempDir dir;
  ModelRegistry registry(
      ConfigWith(dir, {{"ok", testing::MiniLmDir(), "cpu"}, {"gone", "missing", "cpu"}}));
  const absl::Status status = registry.LoadConfiguredModels();
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(status.message().find("model 'gone': model path") != std::string::npos);
  CHECK_FALSE(registry.AllReady());
  absl::StatusOr<ModelEntry> gone = registry.Get("gone");
  REQUIRE(gone.ok());
  CHECK(gone->state == ModelState::kFailed);
  CHECK(gone->error == status.message());
  CHECK(registry.Get("ok")->state == ModelState::kReady);
}

TEST_CASE("registry: a broken encoder checkpoint fails with the file's problem", "[engine]") {
  TempDir dir;
  dir.Write("enc/config.json", R"({"architectures": ["BertModel"], "vocab_size": 10})");
  dir.Write("enc/model.safetensors", "not safetensors");
  ModelRegistry registry(ConfigWith(dir, {{"enc", "enc", "cpu"}}));
  const absl::Status status = registry.LoadConfiguredModels();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message().find("model 'enc': safetensors file") != std::string::npos);
}

TEST_CASE("registry: unknown architectures and devices are refused", "[engine]") {
  TempDir dir;
  dir.Write("odd/config.json", R"({"architectures": ["WhisperForConditionalGeneration"]})");
  dir.Write("odd/model.safetensors", "w");
  ModelRegistry odd(ConfigWith(dir, {{"odd", "odd", "cpu"}}));
  CHECK(odd.LoadConfiguredModels().message().find("is not supported") != std::string::npos);

  ModelRegistry far(ConfigWith(dir, {{"far", "odd", "cuda:7"}}));
  const absl::Status status = far.LoadConfiguredModels();
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(status.message().find("device 'cuda:7' is not available") != std::string::npos);
}

TEST_CASE("registry: unknown names list the known ones", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {{"a", "x", "cpu"}, {"b", "y", "cpu"}}));
  absl::StatusOr<ModelEntry> entry = registry.Get("c");
  REQUIRE_FALSE(entry.ok());
  CHECK(entry.status().code() == absl::StatusCode::kNotFound);
  CHECK(entry.status().message() == "model 'c' is not served here; available: a, b");
}

// Embeds one text with `encoder` and waits for the result.
absl::StatusOr<EmbedResult> EmbedOne(const std::shared_ptr<EncoderEngine>& encoder) {
  std::promise<absl::StatusOr<EmbedResult>> promise;
  EmbedCall call;
  call.texts = {"a sentence to embed"};
  encoder->Embed(
      std::move(call), [] { return false; },
      [&promise](absl::StatusOr<EmbedResult> result) { promise.set_value(std::move(result)); });
  return promise.get_future().get();
}

// Waits (up to 30 s) until `weak` expired and the reaper freed what was handed to it.
bool WaitFreed(const ModelRegistry& registry, const std::weak_ptr<void>& weak) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!weak.expired()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The deleter hands the engine over right after the count reached zero.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  registry.WaitForFrees();
  return true;
}

std::vector<std::string> Names(const std::vector<ModelEntry>& entries) {
  std::vector<std::string> names;
  for (const ModelEntry& entry : entries) names.push_back(entry.name);
  return names;
}

TEST_CASE("registry: LoadModel serves a model at run time, after the configured ones", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {{"enc", testing::MiniLmDir(), "cpu"}}));
  REQUIRE(registry.LoadConfiguredModels().ok());

  absl::StatusOr<ModelEntry> loaded = registry.LoadModel("mini:copy-1", testing::MiniLmDir());
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK(loaded->state == ModelState::kReady);
  CHECK(loaded->origin == ModelOrigin::kRunTime);
  CHECK_FALSE(loaded->base_model);
  CHECK(loaded->parent_model.empty());
  CHECK(loaded->device == "cpu");
  CHECK(loaded->tasks == std::vector<ModelTask>{ModelTask::kEmbed});
  CHECK(loaded->embedding_dimensions == 384);
  CHECK(loaded->format == models::ModelFormat::kHfSafetensors);
  REQUIRE(loaded->encoder != nullptr);

  // A fine-tuning result names its parent and job; the classifier serves both its tasks.
  LoadModelOptions fine_tuned;
  fine_tuned.origin = ModelOrigin::kFineTuned;
  fine_tuned.parent_model = "enc";
  fine_tuned.fine_tuning_job_id = "ftjob-7";
  const std::string classifier = testing::AssembleClassifier(dir, "classifier_config.json");
  absl::StatusOr<ModelEntry> tuned = registry.LoadModel("enc:ft-x-7", classifier, fine_tuned);
  INFO(tuned.status().ToString());
  REQUIRE(tuned.ok());
  CHECK(tuned->origin == ModelOrigin::kFineTuned);
  CHECK(tuned->parent_model == "enc");
  CHECK(tuned->fine_tuning_job_id == "ftjob-7");
  CHECK(tuned->tasks == std::vector<ModelTask>{ModelTask::kClassify, ModelTask::kEmbed});
  CHECK(tuned->labels == std::vector<std::string>{"negative", "neutral", "positive"});

  // Configuration order, then load order; Get finds each; the configured models are still all
  // that AllReady looks at.
  CHECK(Names(registry.List()) == std::vector<std::string>{"enc", "mini:copy-1", "enc:ft-x-7"});
  CHECK(registry.Get("enc:ft-x-7")->origin == ModelOrigin::kFineTuned);
  CHECK(registry.AllReady());

  // The model serves requests like a configured one, and gives the same vectors.
  absl::StatusOr<EmbedResult> copy = EmbedOne(registry.Get("mini:copy-1")->encoder);
  absl::StatusOr<EmbedResult> base = EmbedOne(registry.Get("enc")->encoder);
  REQUIRE(copy.ok());
  REQUIRE(base.ok());
  CHECK(copy->embeddings == base->embeddings);

  // Relative paths resolve against model_dir, as in the configuration; a task subset is kept.
  std::filesystem::create_directory_symlink(testing::MiniLmDir(), dir.path() / "mini");
  LoadModelOptions embed_only;
  embed_only.tasks = {ModelTask::kEmbed};
  absl::StatusOr<ModelEntry> relative = registry.LoadModel("relative", "mini", embed_only);
  INFO(relative.status().ToString());
  REQUIRE(relative.ok());
  CHECK(relative->path == (dir.path() / "mini").string());
  LoadModelOptions classify_only;
  classify_only.tasks = {ModelTask::kClassify};
  absl::StatusOr<ModelEntry> head = registry.LoadModel("head-only", classifier, classify_only);
  REQUIRE(head.ok());
  CHECK(head->tasks == std::vector<ModelTask>{ModelTask::kClassify});
}

TEST_CASE("registry: LoadModel refusals leave nothing behind", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {{"enc", testing::MiniLmDir(), "cpu"}}));
  REQUIRE(registry.LoadConfiguredModels().ok());
  REQUIRE(registry.LoadModel("copy", testing::MiniLmDir()).ok());
  auto code = [&](const std::string& name, const std::string& path, LoadModelOptions options = {}) {
    return registry.LoadModel(name, path, options).status();
  };

  // Taken names: configured or loaded at run time.
  absl::Status taken = code("enc", testing::MiniLmDir());
  CHECK(taken.code() == absl::StatusCode::kAlreadyExists);
  CHECK(taken.message().find("model 'enc' already exists") != std::string::npos);
  CHECK(code("copy", testing::MiniLmDir()).code() == absl::StatusCode::kAlreadyExists);

  // Names as the proto says: 1 to 128 characters from [A-Za-z0-9._:-].
  CHECK(code("", testing::MiniLmDir()).code() == absl::StatusCode::kInvalidArgument);
  CHECK(code("has space", testing::MiniLmDir()).code() == absl::StatusCode::kInvalidArgument);
  CHECK(code("slash/name", testing::MiniLmDir()).code() == absl::StatusCode::kInvalidArgument);
  CHECK(code(std::string(129, 'a'), testing::MiniLmDir()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ValidateModelName(std::string(128, 'a')).ok());
  CHECK(ValidateModelName("Base.v2_x:ft-suffix-01").ok());

  // A missing path is NOT_FOUND; everything wrong inside a model is INVALID_ARGUMENT naming the
  // file (the broken GGUF's missing key is NOT_FOUND for a configured model).
  absl::Status missing = code("gone", "no/such/model");
  CHECK(missing.code() == absl::StatusCode::kNotFound);
  CHECK(missing.message().find((dir.path() / "no/such/model").string()) != std::string::npos);
  std::string gguf = "GGUF";
  gguf += std::string("\x03\0\0\0", 4) + std::string(16, '\0');
  dir.Write("empty.gguf", gguf);
  absl::Status broken = code("broken", "empty.gguf");
  CHECK(broken.code() == absl::StatusCode::kInvalidArgument);
  CHECK(broken.message().find("general.architecture") != std::string::npos);
  dir.Write("weights.pt", "PK\x03\x04");
  absl::Status pickle = code("pickle", "weights.pt");
  CHECK(pickle.code() == absl::StatusCode::kInvalidArgument);
  CHECK(pickle.message().find("pickle") != std::string::npos);
  dir.Write("odd/config.json", R"({"architectures": ["WhisperForConditionalGeneration"]})");
  dir.Write("odd/model.safetensors", "w");
  CHECK(code("odd", "odd").code() == absl::StatusCode::kInvalidArgument);

  // Tasks the model cannot serve, devices this machine lacks, origins only the server makes.
  LoadModelOptions generate;
  generate.tasks = {ModelTask::kGenerate};
  absl::Status task = code("gen", testing::MiniLmDir(), generate);
  CHECK(task.code() == absl::StatusCode::kInvalidArgument);
  CHECK(task.message().find("cannot serve generate; it serves embed") != std::string::npos);
  LoadModelOptions far;
  far.device = "cuda:7";
  CHECK(code("far", testing::MiniLmDir(), far).code() == absl::StatusCode::kInvalidArgument);
  LoadModelOptions orphan;
  orphan.origin = ModelOrigin::kFineTuned;
  CHECK(code("orphan", testing::MiniLmDir(), orphan).code() == absl::StatusCode::kInvalidArgument);
  LoadModelOptions base;
  base.origin = ModelOrigin::kConfigured;
  CHECK(code("base", testing::MiniLmDir(), base).code() == absl::StatusCode::kInvalidArgument);

  // None of them is listed, and their names are free.
  CHECK(Names(registry.List()) == std::vector<std::string>{"enc", "copy"});
  CHECK(registry.Get("broken").status().code() == absl::StatusCode::kNotFound);
  CHECK(registry.LoadModel("broken", testing::MiniLmDir()).ok());
}

TEST_CASE("registry: UnloadModel protects base models and forgets the name at once", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {{"enc", testing::MiniLmDir(), "cpu"}}));
  REQUIRE(registry.LoadConfiguredModels().ok());
  REQUIRE(registry.LoadModel("copy", testing::MiniLmDir()).ok());

  absl::StatusOr<ModelEntry> refused = registry.UnloadModel("enc", false);
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("base model") != std::string::npos);
  CHECK(registry.Get("enc")->state == ModelState::kReady);
  absl::StatusOr<ModelEntry> unknown = registry.UnloadModel("nope", false);
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK(unknown.status().message() == "model 'nope' is not served here; available: enc, copy");

  std::weak_ptr<EncoderEngine> weak = registry.Get("copy")->encoder;
  absl::StatusOr<ModelEntry> unloaded = registry.UnloadModel("copy", false);
  REQUIRE(unloaded.ok());
  CHECK(unloaded->name == "copy");
  CHECK(unloaded->state == ModelState::kUnloading);
  CHECK(unloaded->encoder == nullptr);
  CHECK(registry.Get("copy").status().code() == absl::StatusCode::kNotFound);
  CHECK(Names(registry.List()) == std::vector<std::string>{"enc"});
  CHECK(registry.UnloadModel("copy", false).status().code() == absl::StatusCode::kNotFound);
  // Nobody else held it: freed.
  CHECK(WaitFreed(registry, weak));

  // The name can be used again; a base model goes with force.
  REQUIRE(registry.LoadModel("copy", testing::MiniLmDir()).ok());
  absl::StatusOr<ModelEntry> forced = registry.UnloadModel("enc", true);
  REQUIRE(forced.ok());
  CHECK(forced->base_model);
  CHECK(Names(registry.List()) == std::vector<std::string>{"copy"});
  CHECK(registry.AllReady());
}

TEST_CASE("registry: calls in flight keep an unloaded encoder alive until they end", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {}));
  REQUIRE(registry.LoadModel("copy", testing::MiniLmDir()).ok());
  std::weak_ptr<EncoderEngine> weak;
  std::promise<absl::StatusOr<EmbedResult>> first_result;
  std::promise<absl::StatusOr<EmbedResult>> second_result;
  {
    std::shared_ptr<EncoderEngine> encoder = registry.Get("copy")->encoder;
    weak = encoder;
    REQUIRE(registry.UnloadModel("copy", false).ok());
    // The engine still serves the call that holds it...
    absl::StatusOr<EmbedResult> before = EmbedOne(encoder);
    REQUIRE(before.ok());
    // ... and the last reference can end on the encoder queue's own thread: the callbacks hold
    // the only ones left once this scope closes (the engine must then be freed elsewhere).
    for (auto* promise : {&first_result, &second_result}) {
      EmbedCall call;
      call.texts = {"a sentence to embed", "and another one"};
      encoder->Embed(
          std::move(call), [] { return false; },
          [promise, encoder](absl::StatusOr<EmbedResult> result) {
            promise->set_value(std::move(result));
          });
    }
  }
  absl::StatusOr<EmbedResult> first = first_result.get_future().get();
  absl::StatusOr<EmbedResult> second = second_result.get_future().get();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->embeddings.size() == 2);
  CHECK(WaitFreed(registry, weak));
}

// Holds the engine like a Generate call does, and lets it go when the request ends (on the
// scheduler's thread).
class HoldingSink : public GenerateSink {
 public:
  explicit HoldingSink(std::shared_ptr<DecoderEngine> engine) : engine_(std::move(engine)) {}
  void OnChunk(GenerateChunk chunk) override {
    std::lock_guard lock(mutex_);
    tokens_ += static_cast<int>(chunk.token_ids.size());
  }
  void OnDone(absl::Status status, const GenerateUsage& /*usage*/) override {
    std::lock_guard lock(mutex_);
    status_ = status;
    engine_.reset();
    done_ = true;
    wake_.notify_all();
  }
  bool Cancelled() override { return false; }
  absl::Status Wait() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return done_; });
    return status_;
  }
  int tokens() {
    std::lock_guard lock(mutex_);
    return tokens_;
  }

 private:
  std::shared_ptr<DecoderEngine> engine_;
  std::mutex mutex_;
  std::condition_variable wake_;
  absl::Status status_;
  int tokens_ = 0;
  bool done_ = false;
};

TEST_CASE("registry: a generation in flight finishes on an unloaded decoder", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {}));
  absl::StatusOr<ModelEntry> loaded =
      registry.LoadModel("tiny-llama", testing::GoldenDir() + "/llama_hf/llama");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK(loaded->tasks == std::vector<ModelTask>{ModelTask::kGenerate});
  std::weak_ptr<DecoderEngine> weak = loaded->decoder;
  auto sink = std::make_shared<HoldingSink>(loaded->decoder);
  GenerateCall call;
  call.input.kind = GenerateInput::Kind::kTokenIds;
  call.input.token_ids = {5, 17, 99};
  call.params.temperature = 0;
  call.params.max_tokens = 40;
  call.params.ignore_eos = true;
  call.max_tokens_set = true;
  REQUIRE(loaded->decoder->Submit(std::move(call), sink).ok());
  loaded->decoder.reset();
  REQUIRE(registry.UnloadModel("tiny-llama", false).ok());
  CHECK(registry.Get("tiny-llama").status().code() == absl::StatusCode::kNotFound);
  // Every token comes, not a cancellation: the scheduler stops only after the request ended.
  CHECK(sink->Wait().ok());
  CHECK(sink->tokens() == 40);
  CHECK(WaitFreed(registry, weak));
}

TEST_CASE("registry: List and Get answer while a model loads; one of two same-name loads wins",
          "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {{"enc", testing::MiniLmDir(), "cpu"}}));
  REQUIRE(registry.LoadConfiguredModels().ok());

  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::vector<absl::Status> results(2);
  std::vector<std::thread> loaders;
  for (size_t i = 0; i < 2; ++i) {
    loaders.emplace_back([&, i] {
      while (!started) std::this_thread::yield();
      results[i] = registry.LoadModel("late", testing::SmolLm2Gguf()).status();
    });
  }
  // Assertions stay on this thread (Catch2 v2's are not thread-safe): the watcher only counts.
  std::atomic<bool> saw_loading{false};
  std::atomic<int> lists{0};
  std::atomic<int> wrong{0};
  std::thread watcher([&] {
    started = true;
    while (!finished) {
      const std::vector<ModelEntry> entries = registry.List();
      ++lists;
      if (entries.empty() || entries.size() > 2 || entries[0].name != "enc" ||
          entries[0].state != ModelState::kReady) {
        ++wrong;
      }
      if (entries.size() == 2 && entries[1].state == ModelState::kLoading) {
        saw_loading = true;
        // The load may finish between the two calls, but never fails.
        absl::StatusOr<ModelEntry> loading = registry.Get("late");
        if (!loading.ok() || loading->state == ModelState::kFailed) ++wrong;
      }
    }
  });
  for (std::thread& loader : loaders) loader.join();
  finished = true;
  watcher.join();

  INFO(results[0].ToString() << " / " << results[1].ToString());
  CHECK(results[0].ok() != results[1].ok());
  for (const absl::Status& result : results) {
    if (!result.ok()) CHECK(result.code() == absl::StatusCode::kAlreadyExists);
  }
  CHECK(saw_loading);
  CHECK(lists > 1);
  CHECK(wrong == 0);
  absl::StatusOr<ModelEntry> late = registry.Get("late");
  REQUIRE(late.ok());
  CHECK(late->state == ModelState::kReady);
  CHECK(late->format == models::ModelFormat::kGguf);
  CHECK(late->decoder != nullptr);
}

TEST_CASE("registry: unloading a model while it loads abandons the load", "[engine]") {
  TempDir dir;
  ModelRegistry registry(ConfigWith(dir, {}));
  std::promise<absl::Status> loaded;
  std::thread loader(
      [&] { loaded.set_value(registry.LoadModel("big", testing::SmolLm2Gguf()).status()); });
  // Wait for the LOADING entry, then take it away.
  absl::StatusOr<ModelEntry> unloaded = absl::NotFoundError("");
  while (true) {
    absl::StatusOr<ModelEntry> entry = registry.Get("big");
    if (entry.ok()) {
      unloaded = registry.UnloadModel("big", false);
      break;
    }
    std::this_thread::yield();
  }
  loader.join();
  const absl::Status status = loaded.get_future().get();
  REQUIRE(unloaded.ok());
  // Almost always still loading when it was unloaded; if the load won the race it was READY.
  if (!status.ok()) {
    CHECK(status.code() == absl::StatusCode::kAborted);
    CHECK(status.message() == "model 'big' was unloaded while it was loading");
  }
  CHECK(registry.List().empty());
  CHECK(registry.Get("big").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace trustformers::engine
