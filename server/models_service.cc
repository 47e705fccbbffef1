#include "server/models_service.h"

#include "absl/status/status.h"
#include "server/status_mapping.h"

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

}  // namespace trustformers::server
