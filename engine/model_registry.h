// The models this server knows and the state of each. Configured ("base") models are registered at
// start-up; every request resolves its `model` name here. Thread-safe: front-end threads read it
// while the loader thread changes states.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "engine/decoder_engine.h"
#include "engine/encoder_engine.h"
#include "engine/metrics.h"
#include "models/loader/model_source.h"

namespace trustformers::engine {

enum class ModelState { kLoading, kReady, kFailed, kUnloading };

enum class ModelTask { kEmbed, kClassify, kGenerate };

// A snapshot of one model, copied out of the registry so readers never hold its lock.
struct ModelEntry {
  std::string name;
  std::string path;
  std::string device;
  ModelState state = ModelState::kLoading;
  // Why loading failed, when state is kFailed.
  std::string error;
  std::optional<models::ModelFormat> format;
  std::string architecture;
  std::vector<ModelTask> tasks;
  int64_t weight_bytes = 0;
  bool base_model = false;
  std::chrono::system_clock::time_point state_changed_at;
  // Set once an encoder model (Embed, Classify) is READY; shared with calls in flight, so a model
  // being unloaded stays alive until its last call ends.
  std::shared_ptr<EncoderEngine> encoder;
  // Set once a decoder model (Generate) is READY; shared the same way.
  std::shared_ptr<DecoderEngine> decoder;
  int64_t parameter_count = 0;
  int64_t max_context_tokens = 0;
  int64_t embedding_dimensions = 0;
  std::vector<std::string> labels;
};

class ModelRegistry {
 public:
  // Registers every configured model in state kLoading, in configuration order.
  // With `metrics`, each decoder records its latency histograms there (labelled by model name);
  // it must outlive the registry.
  explicit ModelRegistry(const config::Config& config, EncoderEngineOptions encoder_options = {},
                         MetricsRegistry* metrics = nullptr);

  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads every model still in kLoading, one after another. Returns the first failure (the
  // failed model stays listed in kFailed with the reason); OK once all are kReady.
  absl::Status LoadConfiguredModels();

  // True once every configured model is kReady.
  bool AllReady() const;

  std::vector<ModelEntry> List() const;

  // NOT_FOUND naming the known models when `name` is unknown.
  absl::StatusOr<ModelEntry> Get(const std::string& name) const;

 private:
  absl::Status Load(size_t index);
  void SetState(size_t index, ModelState state, std::string error);

  EncoderEngineOptions encoder_options_;
  DecoderEngineOptions decoder_options_;
  // Latency histogram families, when a metrics registry was given.
  HistogramFamily* time_to_first_token_ = nullptr;
  HistogramFamily* inter_token_latency_ = nullptr;
  HistogramFamily* step_seconds_ = nullptr;
  HistogramFamily* batch_tokens_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<ModelEntry> entries_;  // guarded by mutex_
};

// Which tasks an architecture named in config.json or GGUF metadata can serve, before its
// weights are read (a BERT checkpoint serves Classify only if it turns out to have a head).
// Empty for an architecture this build does not know.
std::vector<ModelTask> TasksForArchitecture(const models::ModelSource& source);

// True for the BERT-family encoders EncoderEngine runs.
bool IsEncoderArchitecture(const std::string& architecture);

}  // namespace trustformers::engine
