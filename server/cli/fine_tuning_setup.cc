#include "server/cli/fine_tuning_setup.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace trustformers::cli {
namespace {

namespace fs = std::filesystem;

// Serves a finished job's model folder as a fine-tuned model of `base_model`.
absl::Status RegisterFineTuned(engine::ModelRegistry& registry, const std::string& name,
                               const std::string& folder, const std::string& base_model) {
  engine::LoadModelOptions options;
  options.origin = engine::ModelOrigin::kFineTuned;
  options.parent_model = base_model;
  // "ft:<base>:[<suffix>:]<job id>": the job id is the last field.
  options.fine_tuning_job_id = name.substr(name.rfind(':') + 1);
  return registry.LoadModel(name, folder, options).status();
}

}  // namespace

absl::StatusOr<jobs::BaseModel> ResolveBaseModel(const engine::ModelRegistry& registry,
                                                 const std::string& name) {
  absl::StatusOr<engine::ModelEntry> entry = registry.Get(name);
  if (!entry.ok()) return entry.status();
  jobs::BaseModel base;
  base.folder = entry->path;
  if (entry->max_context_tokens > 0) base.max_sequence_length = entry->max_context_tokens;
  if (std::find(entry->tasks.begin(), entry->tasks.end(), engine::ModelTask::kClassify) !=
      entry->tasks.end()) {
    base.head_labels = entry->labels;
  }
  if (entry->state == engine::ModelState::kFailed) {
    base.not_trainable = absl::StrCat("it failed to load: ", entry->error);
  } else if (entry->format == models::ModelFormat::kGguf) {
    base.not_trainable =
        "it is a GGUF file; fine-tuning starts from a Hugging Face folder (config.json, "
        "model.safetensors, tokenizer.json) of a BERT-family model";
  } else if (!engine::IsEncoderArchitecture(entry->architecture)) {
    base.not_trainable = absl::StrCat(
        "its architecture '", entry->architecture,
        "' is not a BERT-family encoder (sequence classification fine-tunes BERT, RoBERTa and "
        "their kin)");
  } else if (!fs::is_regular_file(fs::path(entry->path) / "tokenizer.json")) {
    base.not_trainable = absl::StrCat("its folder '", entry->path, "' has no tokenizer.json");
  }
  return base;
}

std::unique_ptr<FineTuningSetup> FineTuningSetup::Open(const config::Config& config,
                                                       engine::ModelRegistry* registry) {
  std::unique_ptr<FineTuningSetup> setup(new FineTuningSetup());
  if (!config.fine_tuning.enabled) {
    setup->unavailable_reason_ =
        "fine-tuning is turned off on this server (fine_tuning.enabled: false)";
    return setup;
  }
  const std::string data_dir = config::ResolvedFineTuningDir(config);
  auto off = [&](const absl::Status& status) {
    setup->unavailable_reason_ =
        absl::StrCat("fine-tuning is unavailable on this server: ", status.message());
    spdlog::warn(
        "{} (set fine_tuning.data_dir to a writable folder, or fine_tuning.enabled: "
        "false)",
        setup->unavailable_reason_);
    setup->files_.reset();
    setup->store_.reset();
    return std::move(setup);
  };
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    return off(absl::PermissionDeniedError(
        absl::StrCat("cannot create fine_tuning.data_dir '", data_dir, "': ", ec.message())));
  }
  absl::StatusOr<std::unique_ptr<jobs::JobStore>> store =
      jobs::JobStore::Open((fs::path(data_dir) / "jobs.sqlite").string());
  if (!store.ok()) return off(store.status());
  setup->store_ = *std::move(store);
  jobs::FileStoreLimits limits;
  limits.max_file_bytes = config.fine_tuning.max_file_bytes;
  absl::StatusOr<std::unique_ptr<jobs::FileStore>> files =
      jobs::FileStore::Open(data_dir, setup->store_.get(), limits);
  if (!files.ok()) return off(files.status());
  setup->files_ = *std::move(files);

  jobs::JobManagerOptions options;
  options.data_dir = data_dir;
  options.max_running_jobs = static_cast<int>(config.fine_tuning.max_running_jobs);
  options.max_queued_jobs = static_cast<int>(config.fine_tuning.max_queued_jobs);
  options.train_threads = static_cast<int>(config.fine_tuning.train_threads);
  jobs::JobManagerHooks hooks;
  hooks.resolve_base_model = [registry](const std::string& name) {
    return ResolveBaseModel(*registry, name);
  };
  hooks.register_model = [registry](const std::string& name, const std::string& folder,
                                    const std::string& base_model) {
    return RegisterFineTuned(*registry, name, folder, base_model);
  };
  hooks.unregister_model = [registry](const std::string& name) {
    return registry->UnloadModel(name, /*force=*/false).status();
  };
  hooks.inference_waiting = [registry] { return registry->InferenceBusy(); };
  setup->manager_ = std::make_unique<jobs::JobManager>(options, setup->store_.get(),
                                                       setup->files_.get(), std::move(hooks));
  spdlog::info("fine-tuning: jobs and files in {}", data_dir);
  return setup;
}

FineTuningSetup::~FineTuningSetup() { Shutdown(); }

server::FineTuningBackend FineTuningSetup::backend() const {
  server::FineTuningBackend backend;
  backend.manager = manager_.get();
  backend.store = store_.get();
  backend.files = files_.get();
  if (manager_ == nullptr) backend.unavailable_reason = unavailable_reason_;
  return backend;
}

void FineTuningSetup::Start() {
  if (manager_ == nullptr) return;
  // Recovers unfinished jobs and serves the models of jobs that succeeded before.
  if (absl::Status s = manager_->Start(); !s.ok()) {
    spdlog::error("fine-tuning: cannot start the job manager: {}", s.message());
  }
}

void FineTuningSetup::Shutdown() {
  if (manager_ != nullptr) manager_->Shutdown();
}

}  // namespace trustformers::cli
