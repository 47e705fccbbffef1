#include "engine/model_registry.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/device.h"

namespace trustformers::engine {

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
    : encoder_options_(encoder_options) {
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
  decoder_options_.max_prompt_tokens = config.limits.max_prompt_tokens;
  decoder_options_.max_new_tokens = config.limits.max_new_tokens;
  decoder_options_.max_choices = config.limits.max_choices;
  decoder_options_.max_stop_strings = config.limits.max_stop_strings;
  const auto now = std::chrono::system_clock::now();
  for (const config::ModelConfig& model : config.models) {
    ModelEntry entry;
    entry.name = model.name;
    entry.path = config::ResolvedModelPath(config, model);
    entry.device = model.device;
    entry.base_model = true;
    entry.state_changed_at = now;
    entries_.push_back(std::move(entry));
  }
}

absl::Status ModelRegistry::LoadConfiguredModels() {
  size_t count = 0;
  {
    std::lock_guard lock(mutex_);
    count = entries_.size();
  }
  for (size_t i = 0; i < count; ++i) {
    if (absl::Status status = Load(i); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ModelRegistry::Load(size_t index) {
  std::string name;
  std::string path;
  std::string device;
  {
    std::lock_guard lock(mutex_);
    if (entries_[index].state != ModelState::kLoading) return absl::OkStatus();
    name = entries_[index].name;
    path = entries_[index].path;
    device = entries_[index].device;
  }
  auto fail = [&](const absl::Status& status) {
    const absl::Status named(status.code(), absl::StrCat("model '", name, "': ", status.message()));
    SetState(index, ModelState::kFailed, std::string(named.message()));
    return named;
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
  if (std::find(tasks.begin(), tasks.end(), ModelTask::kGenerate) != tasks.end()) {
    decoder_options.histograms = {child(time_to_first_token_), child(inter_token_latency_),
                                  child(step_seconds_), child(batch_tokens_)};
  }
  if (source->format == models::ModelFormat::kGguf) {
    // Every GGUF is read and validated in full now (tensors, tokenizer, chat template), so a
    // malformed file fails start-up with the reason instead of the first request that touches it.
    absl::StatusOr<std::unique_ptr<DecoderEngine>> loaded =
        DecoderEngine::LoadGguf(source->path, decoder_options);
    if (!loaded.ok()) return fail(loaded.status());
    decoder = *std::move(loaded);
    source->architecture = decoder->model().architecture();
  } else if (source->format == models::ModelFormat::kHfSafetensors &&
             tasks == std::vector<ModelTask>{ModelTask::kGenerate}) {
    absl::StatusOr<std::unique_ptr<DecoderEngine>> loaded =
        DecoderEngine::LoadHfFolder(source->path, decoder_options);
    if (!loaded.ok()) return fail(loaded.status());
    decoder = *std::move(loaded);
  }
  std::shared_ptr<EncoderEngine> encoder;
  if (source->format == models::ModelFormat::kHfSafetensors &&
      IsEncoderArchitecture(source->architecture)) {
    absl::StatusOr<std::unique_ptr<EncoderEngine>> loaded =
        EncoderEngine::Load(source->path, encoder_options_);
    if (!loaded.ok()) return fail(loaded.status());
    encoder = *std::move(loaded);
    tasks = encoder->can_classify()
                ? std::vector<ModelTask>{ModelTask::kClassify, ModelTask::kEmbed}
                : std::vector<ModelTask>{ModelTask::kEmbed};
  }
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = entries_[index];
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
  }
  SetState(index, ModelState::kReady, "");
  return absl::OkStatus();
}

void ModelRegistry::SetState(size_t index, ModelState state, std::string error) {
  std::lock_guard lock(mutex_);
  ModelEntry& entry = entries_[index];
  entry.state = state;
  entry.error = std::move(error);
  entry.state_changed_at = std::chrono::system_clock::now();
}

bool ModelRegistry::AllReady() const {
  std::lock_guard lock(mutex_);
  for (const ModelEntry& entry : entries_) {
    if (entry.state != ModelState::kReady) return false;
  }
  return true;
}

std::vector<ModelEntry> ModelRegistry::List() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

absl::StatusOr<ModelEntry> ModelRegistry::Get(const std::string& name) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const ModelEntry& entry : entries_) {
    if (entry.name == name) return entry;
    names.push_back(entry.name);
  }
  return absl::NotFoundError(absl::StrCat("model '", name, "' is not served here; available: ",
                                          names.empty() ? "none" : absl::StrJoin(names, ", ")));
}

}  // namespace trustformers::engine
