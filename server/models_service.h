// trustformers.v1.Models over gRPC: answers from the engine's model registry.
#pragma once

#include "engine/model_registry.h"
#include "server/call_authorizer.h"
#include "trustformers/v1/models.grpc.pb.h"

namespace trustformers::server {

class ModelsService final : public v1::Models::CallbackService {
 public:
  // `registry` must outlive the service.
  explicit ModelsService(const engine::ModelRegistry* registry, Authorizer authorizer = {})
      : registry_(registry), authorizer_(std::move(authorizer)) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::ModelInfo* response) override;

 private:
  const engine::ModelRegistry* registry_;
  Authorizer authorizer_;
};

// Engine entry -> wire message.
void ToProto(const engine::ModelEntry& entry, v1::ModelInfo* out);

}  // namespace trustformers::server
