#include "server/models_service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/fmt_absl.h"
#include "server/status_mapping.h"
#include "spdlog/spdlog.h"

namespace trustformers::server {
namespace {

v1::ModelState StateToProto(engine::ModelState state) {
  switch (state) {
    case engine::ModelState::kLoading:
      return v1::MODEL_STATE_LOADING;
    case engine::ModelState::kReady:
      return v1::MODEL_STATE_READY;
    case engine::ModelState::kFailed:
      return v1::MODEL_STATE_FAILED;
    case engine::ModelState::kUnloading:
      return v1::MODEL_STATE_UNLOADING;
  }
  return v1::MODEL_STATE_UNSPECIFIED;
}

v1::ModelTask TaskToProto(engine::ModelTask task) {
  switch (task) {
    case engine::ModelTask::kEmbed:
      return v1::MODEL_TASK_EMBED;
    case engine::ModelTask::kClassify:
      return v1::MODEL_TASK_CLASSIFY;
    case engine::ModelTask::kGenerate:
      return v1::MODEL_TASK_GENERATE;
  }
  return v1::MODEL_TASK_UNSPECIFIED;
}

absl::StatusOr<engine::ModelTask> TaskFromProto(int task) {
  switch (task) {
    case v1::MODEL_TASK_EMBED:
      return engine::ModelTask::kEmbed;
    case v1::MODEL_TASK_CLASSIFY:
      return engine::ModelTask::kClassify;
    case v1::MODEL_TASK_GENERATE:
      return engine::ModelTask::kGenerate;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("LoadModel: 'tasks' holds ", task, ", which is not a task"));
  }
}

}  // namespace

void ToProto(const engine::ModelEntry& entry, v1::ModelInfo* out) {
  out->set_name(entry.name);
  for (engine::ModelTask task : entry.tasks) out->add_tasks(TaskToProto(task));
  if (entry.format.has_value()) {
    out->set_format(*entry.format == models::ModelFormat::kGguf ? v1::MODEL_FORMAT_GGUF
                                                                : v1::MODEL_FORMAT_HF_SAFETENSORS);
  }
  out->set_path(entry.path);
  out->set_state(StateToProto(entry.state));
  out->set_error(entry.error);
  out->set_architecture(entry.architecture);
  out->set_device(entry.device);
  out->set_base_model(entry.base_model);
  out->set_parent_model(entry.parent_model);
  out->set_fine_tuning_job_id(entry.fine_tuning_job_id);
  out->set_memory_bytes(entry.weight_bytes);
  out->set_parameter_count(entry.parameter_count);
  out->set_max_context_tokens(static_cast<int32_t>(entry.max_context_tokens));
  out->set_embedding_dimensions(static_cast<int32_t>(entry.embedding_dimensions));
  for (const std::string& label : entry.labels) out->add_labels(label);
  if (entry.encoder != nullptr) out->set_weight_dtype("F32");
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         entry.state_changed_at.time_since_epoch())
                         .count();
  out->mutable_state_changed_at()->set_seconds(nanos / 1'000'000'000);
  out->mutable_state_changed_at()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

grpc::ServerUnaryReactor* ModelsService::ListModels(grpc::CallbackServerContext* context,
                                                    const v1::ListModelsRequest* /*request*/,
                                                    v1::ListModelsResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  for (const engine::ModelEntry& entry : registry_->List()) {
    ToProto(entry, response->add_models());
  }
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ModelsService::GetModel(grpc::CallbackServerContext* context,
                                                  const v1::GetModelRequest* request,
                                                  v1::ModelInfo* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (request->name().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("GetModel: 'name' is required"));
  }
  absl::StatusOr<engine::ModelEntry> entry = registry_->Get(request->name());
  if (entry.ok()) ToProto(*entry, response);
  return FinishUnary(context, entry.status());
}

ModelsService::~ModelsService() {
  std::list<LoadThread> loads;
  {
    std::lock_guard lock(loads_mutex_);
    loads.swap(loads_);
  }
  for (LoadThread& load : loads) load.thread.join();
}

grpc::ServerUnaryReactor* ModelsService::LoadModel(grpc::CallbackServerContext* context,
                                                   const v1::LoadModelRequest* request,
                                                   v1::ModelInfo* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (absl::Status s = engine::ValidateModelName(request->name()); !s.ok()) {
    return FinishUnary(context,
                       absl::InvalidArgumentError(absl::StrCat("LoadModel: ", s.message())));
  }
  if (request->path().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("LoadModel: 'path' is required"));
  }
  engine::LoadModelOptions options;
  options.device = request->device();
  for (int task : request->tasks()) {
    absl::StatusOr<engine::ModelTask> converted = TaskFromProto(task);
    if (!converted.ok()) return FinishUnary(context, converted.status());
    options.tasks.push_back(*converted);
  }

  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::lock_guard lock(loads_mutex_);
  for (auto it = loads_.begin(); it != loads_.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    it->thread.join();
    it = loads_.erase(it);
  }
  LoadThread& load = loads_.emplace_back();
  // The request and response stay valid until Finish; the thread marks itself done last.
  load.thread = std::thread([this, &load, reactor, request, response, options] {
    const auto started = std::chrono::steady_clock::now();
    absl::StatusOr<engine::ModelEntry> entry =
        registry_->LoadModel(request->name(), request->path(), options);
    if (entry.ok()) {
      spdlog::info(
          "loaded model '{}' from {} in {:.1f} s", entry->name, entry->path,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      ToProto(*entry, response);
    } else {
      spdlog::warn("LoadModel '{}' from {} failed: {}", request->name(), request->path(),
                   entry.status().message());
    }
    reactor->Finish(ToGrpcStatus(entry.status()));
    std::lock_guard done_lock(loads_mutex_);
    load.done = true;
  });
  return reactor;
}

grpc::ServerUnaryReactor* ModelsService::UnloadModel(grpc::CallbackServerContext* context,
                                                     const v1::UnloadModelRequest* request,
                                                     v1::UnloadModelResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (request->name().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("UnloadModel: 'name' is required"));
  }
  absl::StatusOr<engine::ModelEntry> entry =
      registry_->UnloadModel(request->name(), request->force());
  if (entry.ok()) {
    spdlog::info("unloading model '{}'{}: new requests are refused, calls in flight finish",
                 entry->name, entry->base_model ? " (a base model, forced)" : "");
    ToProto(*entry, response->mutable_model());
    if (on_unloaded_) on_unloaded_(*entry);
  }
  return FinishUnary(context, entry.status());
}

}  // namespace trustformers::server
