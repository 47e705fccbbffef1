#include "engine/model_registry.h"

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

}  // namespace
}  // namespace trustformers::engine
