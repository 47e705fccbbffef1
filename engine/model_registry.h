// The models this server knows and the state of each. Configured ("base") models are registered at
// start-up; more are loaded and unloaded at run time (LoadModel / UnloadModel, fine-tuning
// results); every request resolves its `model` name here. Thread-safe: List, Get, LoadModel and
// UnloadModel may run on many threads at once; weights are read without the registry's lock held.
//
// Lifetime of an engine: the registry holds one reference and every call in flight holds another
// (ModelEntry::encoder / decoder are shared). Unloading removes the entry at once, so new requests
// no longer find the name, and drops the registry's reference; the engine is freed when the last
// call using it ends, on the registry's reaper thread (engine/engine_reaper.h), which also stops
// the engine's scheduler or encoder queue thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "engine/decoder_engine.h"
#include "engine/encoder_engine.h"
#include "engine/engine_reaper.h"
#include "engine/metrics.h"
#include "models/loader/model_source.h"

namespace trustformers::engine {

enum class ModelState { kLoading, kReady, kFailed, kUnloading };

enum class ModelTask { kEmbed, kClassify, kGenerate };

// Where a model came from.
enum class ModelOrigin {
  // Listed in the configuration and loaded at start-up: a base model, which UnloadModel refuses
  // without `force`.
  kConfigured,
  // Loaded at run time by LoadModel.
  kRunTime,
  // Written by a fine-tuning job and loaded at run time; names its parent model and its job.
  kFineTuned,
};

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
  // The tasks requests may ask of it: what the architecture supports, or the subset LoadModel
  // asked for.
  std::vector<ModelTask> tasks;
  int64_t weight_bytes = 0;
  ModelOrigin origin = ModelOrigin::kConfigured;
  // origin == kConfigured.
  bool base_model = false;
  // kFineTuned: the base model's name and the job that produced it.
  std::string parent_model;
  std::string fine_tuning_job_id;
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

// How to load a model at run time.
struct LoadModelOptions {
  // Tasks to serve; empty: every task the model supports. One it cannot serve is INVALID_ARGUMENT.
  std::vector<ModelTask> tasks;
  // "cpu", "cuda:N" or "vulkan:N"; empty: "cpu", the configuration's default.
  std::string device;
  // kRunTime or kFineTuned (kConfigured is INVALID_ARGUMENT: only the configuration makes base
  // models).
  ModelOrigin origin = ModelOrigin::kRunTime;
  // kFineTuned: the base model's name (required) and the job's id; ignored otherwise.
  std::string parent_model;
  std::string fine_tuning_job_id;
};

class ModelRegistry {
 public:
  // Registers every configured model in state kLoading, in configuration order.
  // With `metrics`, each decoder records its latency histograms there (labelled by model name);
  // it must outlive the registry.
  explicit ModelRegistry(const config::Config& config, EncoderEngineOptions encoder_options = {},
                         MetricsRegistry* metrics = nullptr);
  // Drops the registry's references; engines still used by calls are freed when those end, so
  // every call must end before the registry goes (the servers' Shutdown sees to it).
  ~ModelRegistry();

  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads every configured model still in kLoading, one after another. Returns the first failure
  // (the failed model stays listed in kFailed with the reason); OK once all are kReady.
  absl::Status LoadConfiguredModels();

  // True once every configured model is kReady.
  bool AllReady() const;

  // Configured models in configuration order, then run-time loads in the order they began.
  std::vector<ModelEntry> List() const;

  // True while some model has inference requests queued or running (a fine-tuning job yields the
  // CPU between its steps then).
  bool InferenceBusy() const;

  // NOT_FOUND naming the known models when `name` is unknown. Any state: callers check it.
  absl::StatusOr<ModelEntry> Get(const std::string& name) const;

  // Loads the Hugging Face folder or GGUF file at `path` (relative paths resolve against the
  // configuration's model_dir, like configured ones) and serves it as `name`. Blocks while the
  // weights are read; meanwhile List() shows the model in kLoading and requests to it get
  // UNAVAILABLE. Returns the kReady entry, or:
  //   INVALID_ARGUMENT  a bad name (ValidateModelName), an unsupported or malformed model (the
  //                     message names the file and the problem), a pickle checkpoint, a task the
  //                     model cannot serve, a device this machine does not have;
  //   ALREADY_EXISTS    a name already taken (also by a model still loading);
  //   NOT_FOUND         `path` does not exist.
  // A failed load leaves nothing behind: the name is free again, and the caller has the reason.
  absl::StatusOr<ModelEntry> LoadModel(const std::string& name, const std::string& path,
                                       const LoadModelOptions& options = {});

  // Removes `name` at once (Get and List no longer show it; requests get NOT_FOUND and the name
  // may be loaded again), lets calls in flight finish on their reference, then frees it. Returns
  // the entry as it was when unloading began, in state kUnloading, without its engines.
  //   NOT_FOUND            no model has that name;
  //   FAILED_PRECONDITION  a configured base model without `force`, or a model still loading.
  // A FAILED configured model can be removed the same way (with `force`).
  absl::StatusOr<ModelEntry> UnloadModel(const std::string& name, bool force);

  // Blocks until every unloaded engine whose last reference went has been freed (tests).
  void WaitForFrees() const { reaper_.Drain(); }

 private:
  // One registered model and its id (stable while other models come and go).
  struct Slot {
    uint64_t id = 0;
    ModelEntry entry;
  };
  // Reads and builds the model without the lock: an entry with everything but its name, state
  // and origin. Errors name the file and the problem.
  absl::StatusOr<ModelEntry> Build(const std::string& name, const std::string& path,
                                   const std::string& device,
                                   const std::vector<ModelTask>& requested_tasks);
  // Loads the slot `id` (a configured model) in place.
  absl::Status LoadConfigured(uint64_t id);
  // Under mutex_: the slot with `id` or `name`, or null.
  Slot* FindLocked(uint64_t id);
  const Slot* FindLocked(std::string_view name) const;
  absl::Status NotFoundLocked(const std::string& name) const;

  std::string model_dir_;
  EncoderEngineOptions encoder_options_;
  DecoderEngineOptions decoder_options_;
  // Latency histogram families, when a metrics registry was given.
  HistogramFamily* time_to_first_token_ = nullptr;
  HistogramFamily* inter_token_latency_ = nullptr;
  HistogramFamily* step_seconds_ = nullptr;
  HistogramFamily* batch_tokens_ = nullptr;
  // Declared before the entries, so it outlives them: their engines go to its thread.
  EngineReaper reaper_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // guarded by mutex_; in List() order
  uint64_t next_id_ = 1;     // guarded by mutex_
};

// OK for 1 to 128 characters from [A-Za-z0-9._:-] (the Models API's rule for LoadModel names);
// INVALID_ARGUMENT saying what is wrong otherwise.
absl::Status ValidateModelName(const std::string& name);

// Which tasks an architecture named in config.json or GGUF metadata can serve, before its
// weights are read (a BERT checkpoint serves Classify only if it turns out to have a head).
// Empty for an architecture this build does not know.
std::vector<ModelTask> TasksForArchitecture(const models::ModelSource& source);

// True for the BERT-family encoders EncoderEngine runs.
bool IsEncoderArchitecture(const std::string& architecture);

// "embed", "classify", "generate".
const char* TaskName(ModelTask task);

}  // namespace trustformers::engine
