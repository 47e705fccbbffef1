#include "engine/model_registry.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/device.h"

namespace trustformers::engine {
namespace {

constexpr size_t kMaxModelNameLength = 128;

bool Contains(const std::vector<ModelTask>& tasks, ModelTask task) {
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

std::string TaskList(const std::vector<ModelTask>& tasks) {
  std::vector<std::string> names;
  for (ModelTask task : tasks) names.push_back(TaskName(task));
  return names.empty() ? "nothing" : absl::StrJoin(names, ", ");
}

const char* StateWord(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "loading";
    case ModelState::kReady:
      return "ready";
    case ModelState::kFailed:
      return "failed";
    case ModelState::kUnloading:
      return "unloading";
  }
  return "unknown";
}

// A run-time load's error as the Models API documents it: NOT_FOUND is only for a missing path
// (checked before loading), so a missing file or key inside the model, an unimplemented tensor
// type or an absent device is the model's problem: INVALID_ARGUMENT, same message.
absl::Status AsLoadError(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kNotFound ||
      status.code() == absl::StatusCode::kUnimplemented) {
    return absl::InvalidArgumentError(status.message());
  }
  return status;
}

}  // namespace

absl::Status ValidateModelName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("a model name is required");
  if (name.size() > kMaxModelNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("model name '", name.substr(0, 32), "...' has ",
                                                   name.size(), " characters; at most ",
                                                   kMaxModelNameLength, " are allowed"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return absl::InvalidArgumentError(absl::StrCat("model name '", absl::CHexEscape(name),
                                                     "' may only hold letters, digits and ",
                                                     "'.', '_', ':', '-'"));
    }
  }
  return absl::OkStatus();
}

const char* TaskName(ModelTask task) {
  switch (task) {
    case ModelTask::kEmbed:
      return "embed";
    case ModelTask::kClassify:
      return "classify";
    case ModelTask::kGenerate:
      return "generate";
  }
  return "unknown";
}

std::vector<ModelTask> TasksForArchitecture(const models::ModelSource& source) {
  if (source.format == models::ModelFormat::kGguf) return {ModelTask::kGenerate};
  const std::string& arch = source.architecture;
  if (absl::EndsWith(arch, "ForSequenceClassification")) {
    return {ModelTask::kClassify, ModelTask::kEmbed};
  }
  if (absl::EndsWith(arch, "ForCausalLM") || absl::EndsWith(arch, "LMHeadModel")) {
    return {ModelTask::kGenerate};
  }
  if (absl::EndsWith(arch, "Model") || arch == "bert" || arch == "roberta") {
    return {ModelTask::kEmbed};
  }
  return {};
}

bool IsEncoderArchitecture(const std::string& arch) {
  for (const char* family : {"Bert", "Roberta", "XLMRoberta", "Camembert"}) {
    if (absl::StartsWith(arch, family) &&
        (absl::EndsWith(arch, "Model") || absl::EndsWith(arch, "ForSequenceClassification"))) {
      return true;
    }
  }
  return arch == "bert" || arch == "roberta" || arch == "xlm-roberta";
}

ModelRegistry::ModelRegistry(const config::Config& config, EncoderEngineOptions encoder_options,
                             MetricsRegistry* metrics)
    : model_dir_(config::ResolvedModelDir(config)), encoder_options_(encoder_options) {
  if (metrics != nullptr) {
    auto family = [&](const char* name, const char* help, std::vector<double> buckets) {
      absl::StatusOr<HistogramFamily*> added =
          metrics->AddHistogram(name, help, {"model"}, std::move(buckets));
      return added.ok() ? *added : nullptr;
    };
    time_to_first_token_ = family("trustformers_time_to_first_token_seconds",
                                  "From admission of a generation request to its first token.",
                                  DefaultLatencyBuckets());
    inter_token_latency_ =
        family("trustformers_inter_token_latency_seconds",
               "Between consecutive tokens of a choice.", DefaultLatencyBuckets());
    step_seconds_ = family("trustformers_engine_step_seconds", "One batched forward step.",
                           DefaultLatencyBuckets());
    batch_tokens_ = family("trustformers_engine_step_tokens", "Tokens in one batched step.",
                           {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
  }
  encoder_options_.queue.max_queued_requests = config.limits.max_queued_encoder_requests;
  decoder_options_.max_queued_requests = config.limits.max_queued_generate_requests;
  decoder_options_.kv_cache_bytes = config.engine.kv_cache_mib << 20;
  decoder_options_.kv_block_tokens = config.engine.kv_block_tokens;
  decoder_options_.max_running_sequences = config.engine.max_running_sequences;
  decoder_options_.max_batch_tokens = config.engine.max_batch_tokens;
  decoder_options_.prefill_chunk_tokens = config.engine.prefill_chunk_tokens;
  decoder_options_.prefix_caching = config.engine.prefix_caching;
  decoder_options_.weights_in_memory = config.engine.weights_in_memory;
  decoder_options_.max_prompt_tokens = config.limits.max_prompt_tokens;
  decoder_options_.max_new_tokens = config.limits.max_new_tokens;
  decoder_options_.max_choices = config.limits.max_choices;
  decoder_options_.max_stop_strings = config.limits.max_stop_strings;
  const auto now = std::chrono::system_clock::now();
  for (const config::ModelConfig& model : config.models) {
    Slot slot;
    slot.id = next_id_++;
    ModelEntry& entry = slot.entry;
    entry.name = model.name;
    entry.path = config::ResolvedModelPath(config, model);
    entry.device = model.device;
    entry.origin = ModelOrigin::kConfigured;
    entry.base_model = true;
    entry.state_changed_at = now;
    slots_.push_back(std::move(slot));
  }
}

// The entries go first (their engines to the reaper), then the reaper frees them and stops.
ModelRegistry::~ModelRegistry() = default;

absl::Status ModelRegistry::LoadConfiguredModels() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mutex_);
    for (const Slot& slot : slots_) {
      if (slot.entry.origin == ModelOrigin::kConfigured) ids.push_back(slot.id);
    }
  }
  for (uint64_t id : ids) {
    if (absl::Status status = LoadConfigured(id); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ModelRegistry::LoadConfigured(uint64_t id) {
  std::string name;
  std::string path;
  std::string device;
  {
    std::lock_guard lock(mutex_);
    const Slot* slot = FindLocked(id);
    // Unloaded (with force) meanwhile, or loaded already.
    if (slot == nullptr || slot->entry.state != ModelState::kLoading) return absl::OkStatus();
    name = slot->entry.name;
    path = slot->entry.path;
    device = slot->entry.device;
  }
  absl::StatusOr<ModelEntry> built = Build(name, path, device, {});
  std::lock_guard lock(mutex_);
  Slot* slot = FindLocked(id);
  if (slot == nullptr) return absl::OkStatus();  // unloaded while it loaded: nothing to serve
  ModelEntry& entry = slot->entry;
  entry.state_changed_at = std::chrono::system_clock::now();
  if (!built.ok()) {
    entry.state = ModelState::kFailed;
    entry.error = std::string(built.status().message());
    return built.status();
  }
  built->name = std::move(entry.name);
  built->device = std::move(entry.device);
  built->origin = entry.origin;
  built->base_model = entry.base_model;
  built->state = ModelState::kReady;
  built->state_changed_at = entry.state_changed_at;
  entry = *std::move(built);
  return absl::OkStatus();
}

absl::StatusOr<ModelEntry> ModelRegistry::Build(const std::string& name, const std::string& path,
                                                const std::string& device,
                                                const std::vector<ModelTask>& requested_tasks) {
  auto fail = [&](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("model '", name, "': ", status.message()));
  };
  if (absl::StatusOr<backends::DeviceInfo> found = backends::FindDevice(device); !found.ok()) {
    return fail(found.status());
  }
  absl::StatusOr<models::ModelSource> source = models::InspectModelSource(path);
  if (!source.ok()) return fail(source.status());
  std::vector<ModelTask> tasks = TasksForArchitecture(*source);
  if (tasks.empty()) {
    return fail(absl::InvalidArgumentError(absl::StrCat("architecture '", source->architecture,
                                                        "' in '", path, "' is not supported")));
  }
  std::shared_ptr<DecoderEngine> decoder;
  DecoderEngineOptions decoder_options = decoder_options_;
  auto child = [&](HistogramFamily* family) -> Histogram* {
    if (family == nullptr) return nullptr;
    absl::StatusOr<Histogram*> histogram = family->WithLabels({name});
    return histogram.ok() ? *histogram : nullptr;
  };
  if (Contains(tasks, ModelTask::kGenerate)) {
    decoder_options.histograms = {child(time_to_first_token_), child(inter_token_latency_),
                                  child(step_seconds_), child(batch_tokens_)};
  }
  if (source->format == models::ModelFormat::kGguf) {
    // Every GGUF is read and validated in full now (tensors, tokenizer, chat template), so a
    // malformed file fails its load with the reason instead of the first request that touches it.
    absl::StatusOr<std::unique_ptr<DecoderEngine>> loaded =
        DecoderEngine::LoadGguf(source->path, decoder_options);
    if (!loaded.ok()) return fail(loaded.status());
    decoder = reaper_.Share(*std::move(loaded));
    source->architecture = decoder->model().architecture();
  } else if (source->format == models::ModelFormat::kHfSafetensors &&
             tasks == std::vector<ModelTask>{ModelTask::kGenerate}) {
    absl::StatusOr<std::unique_ptr<DecoderEngine>> loaded =
        DecoderEngine::LoadHfFolder(source->path, decoder_options);
    if (!loaded.ok()) return fail(loaded.status());
    decoder = reaper_.Share(*std::move(loaded));
  }
  std::shared_ptr<EncoderEngine> encoder;
  if (source->format == models::ModelFormat::kHfSafetensors &&
      IsEncoderArchitecture(source->architecture)) {
    absl::StatusOr<std::unique_ptr<EncoderEngine>> loaded =
        EncoderEngine::Load(source->path, encoder_options_);
    if (!loaded.ok()) return fail(loaded.status());
    encoder = reaper_.Share(*std::move(loaded));
    tasks = encoder->can_classify()
                ? std::vector<ModelTask>{ModelTask::kClassify, ModelTask::kEmbed}
                : std::vector<ModelTask>{ModelTask::kEmbed};
  }
  if (!requested_tasks.empty()) {
    std::vector<ModelTask> served;
    for (ModelTask task : tasks) {
      if (Contains(requested_tasks, task)) served.push_back(task);
    }
    for (ModelTask task : requested_tasks) {
      if (!Contains(tasks, task)) {
        return fail(absl::InvalidArgumentError(
            absl::StrCat("'", source->path, "' (", source->architecture, ") cannot serve ",
                         TaskName(task), "; it serves ", TaskList(tasks))));
      }
    }
    tasks = std::move(served);
  }
  ModelEntry entry;
  if (decoder != nullptr) {
    entry.parameter_count = decoder->parameter_count();
    entry.max_context_tokens = decoder->context_length();
    entry.decoder = std::move(decoder);
  }
  if (encoder != nullptr) {
    entry.parameter_count = encoder->parameter_count();
    entry.max_context_tokens = encoder->max_input_tokens();
    entry.embedding_dimensions = encoder->embedding_dimensions();
    entry.labels = encoder->labels();
    entry.encoder = std::move(encoder);
  }
  entry.format = source->format;
  entry.architecture = source->architecture;
  entry.tasks = std::move(tasks);
  entry.weight_bytes = source->weight_bytes;
  entry.path = source->path;
  return entry;
}

absl::StatusOr<ModelEntry> ModelRegistry::LoadModel(const std::string& name,
                                                    const std::string& path,
                                                    const LoadModelOptions& options) {
  if (absl::Status status = ValidateModelName(name); !status.ok()) return status;
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "': a path is required"));
  }
  if (options.origin == ModelOrigin::kConfigured) {
    return absl::InvalidArgumentError(
        "only the configuration makes base models; load at run time as a run-time or fine-tuned "
        "model");
  }
  if (options.origin == ModelOrigin::kFineTuned && options.parent_model.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", name, "': a fine-tuned model needs its parent model's name"));
  }
  const std::filesystem::path given(path);
  const std::string resolved =
      (given.is_absolute() ? given : std::filesystem::path(model_dir_) / given)
          .lexically_normal()
          .string();
  const std::string device = options.device.empty() ? "cpu" : options.device;
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (const Slot* taken = FindLocked(name); taken != nullptr) {
      return absl::AlreadyExistsError(absl::StrCat("model '", name, "' already exists (",
                                                   StateWord(taken->entry.state), ", from '",
                                                   taken->entry.path, "'); unload it first"));
    }
    Slot slot;
    slot.id = id = next_id_++;
    ModelEntry& entry = slot.entry;
    entry.name = name;
    entry.path = resolved;
    entry.device = device;
    entry.state = ModelState::kLoading;
    entry.origin = options.origin;
    if (options.origin == ModelOrigin::kFineTuned) {
      entry.parent_model = options.parent_model;
      entry.fine_tuning_job_id = options.fine_tuning_job_id;
    }
    entry.state_changed_at = std::chrono::system_clock::now();
    slots_.push_back(std::move(slot));
  }

  // No lock while the weights are read: List, Get and other loads go on meanwhile.
  absl::StatusOr<ModelEntry> built;
  std::error_code ec;
  if (!std::filesystem::exists(resolved, ec)) {
    built = absl::NotFoundError(
        absl::StrCat("model '", name, "': model path '", resolved, "' does not exist"));
  } else {
    built = Build(name, resolved, device, options.tasks);
    if (!built.ok()) built = AsLoadError(built.status());
  }

  std::lock_guard lock(mutex_);
  Slot* slot = FindLocked(id);
  if (slot == nullptr) {
    return absl::AbortedError(absl::StrCat("model '", name, "' was unloaded while it was loading"));
  }
  if (!built.ok()) {
    // Nothing stays behind: the caller has the reason, and the name is free for a retry.
    slots_.erase(slots_.begin() + (slot - slots_.data()));
    return built.status();
  }
  ModelEntry& entry = slot->entry;
  built->name = std::move(entry.name);
  built->device = std::move(entry.device);
  built->origin = entry.origin;
  built->parent_model = std::move(entry.parent_model);
  built->fine_tuning_job_id = std::move(entry.fine_tuning_job_id);
  built->state = ModelState::kReady;
  built->state_changed_at = std::chrono::system_clock::now();
  entry = *std::move(built);
  return entry;
}

absl::StatusOr<ModelEntry> ModelRegistry::UnloadModel(const std::string& name, bool force) {
  ModelEntry removed;
  {
    std::lock_guard lock(mutex_);
    const Slot* slot = FindLocked(name);
    if (slot == nullptr) return NotFoundLocked(name);
    if (slot->entry.base_model && !force) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", name,
                       "' is a base model from the server's configuration; unloading it needs "
                       "force"));
    }
    removed = std::move(slots_[static_cast<size_t>(slot - slots_.data())].entry);
    slots_.erase(slots_.begin() + (slot - slots_.data()));
  }
  // The registry's references go here; calls in flight keep theirs, and the last one to end hands
  // the engine to the reaper. A load still in progress finds its slot gone and gives up.
  removed.encoder.reset();
  removed.decoder.reset();
  removed.state = ModelState::kUnloading;
  removed.state_changed_at = std::chrono::system_clock::now();
  return removed;
}

bool ModelRegistry::AllReady() const {
  std::lock_guard lock(mutex_);
  for (const Slot& slot : slots_) {
    if (slot.entry.origin == ModelOrigin::kConfigured && slot.entry.state != ModelState::kReady) {
      return false;
    }
  }
  return true;
}

std::vector<ModelEntry> ModelRegistry::List() const {
  std::lock_guard lock(mutex_);
  std::vector<ModelEntry> entries;
  entries.reserve(slots_.size());
  for (const Slot& slot : slots_) entries.push_back(slot.entry);
  return entries;
}

bool ModelRegistry::InferenceBusy() const {
  std::lock_guard lock(mutex_);
  for (const Slot& slot : slots_) {
    if (const auto& encoder = slot.entry.encoder) {
      const EncoderQueueCounters c = encoder->counters();
      if (c.queued + c.running > 0) return true;
    }
    if (const auto& decoder = slot.entry.decoder) {
      const DecoderEngineCounters c = decoder->counters();
      if (c.running + c.waiting > 0) return true;
    }
  }
  return false;
}

absl::StatusOr<ModelEntry> ModelRegistry::Get(const std::string& name) const {
  std::lock_guard lock(mutex_);
  if (const Slot* slot = FindLocked(name); slot != nullptr) return slot->entry;
  return NotFoundLocked(name);
}

ModelRegistry::Slot* ModelRegistry::FindLocked(uint64_t id) {
  for (Slot& slot : slots_) {
    if (slot.id == id) return &slot;
  }
  return nullptr;
}

const ModelRegistry::Slot* ModelRegistry::FindLocked(std::string_view name) const {
  for (const Slot& slot : slots_) {
    if (slot.entry.name == name) return &slot;
  }
  return nullptr;
}

absl::Status ModelRegistry::NotFoundLocked(const std::string& name) const {
  std::vector<std::string> names;
  for (const Slot& slot : slots_) names.push_back(slot.entry.name);
  return absl::NotFoundError(absl::StrCat("model '", name, "' is not served here; available: ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", ")));
}

}  // namespace trustformers::engine
