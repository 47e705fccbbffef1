// trustformers.v1.Models over gRPC: answers from the engine's model registry, and loads and unloads
// models in it at run time.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/model_registry.h"
#include "server/call_authorizer.h"
#include "trustformers/v1/models.grpc.pb.h"

namespace trustformers::server {

class ModelsService final : public v1::Models::CallbackService {
 public:
  // Called after UnloadModel removed a model, with its entry (the fine-tuning service deletes a
  // fine-tuned model's folder then, so a restart does not serve it again).
  using UnloadedHook = std::function<void(const engine::ModelEntry& entry)>;

  // `registry` must outlive the service.
  explicit ModelsService(engine::ModelRegistry* registry, Authorizer authorizer = {},
                         UnloadedHook on_unloaded = {})
      : registry_(registry),
        authorizer_(std::move(authorizer)),
        on_unloaded_(std::move(on_unloaded)) {}
  // Waits for loads under way (the gRPC server's Shutdown already waited for their calls).
  ~ModelsService() override;

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::ModelInfo* response) override;
  // Reads the weights on a thread of its own (gRPC's callback threads must not block for
  // seconds) and answers when the model is READY or failed. A call that gives up early (deadline,
  // cancel) does not stop the load: the model is still served once loaded.
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context,
                                      const v1::LoadModelRequest* request,
                                      v1::ModelInfo* response) override;
  // Answers at once: draining and freeing go on behind it.
  grpc::ServerUnaryReactor* UnloadModel(grpc::CallbackServerContext* context,
                                        const v1::UnloadModelRequest* request,
                                        v1::UnloadModelResponse* response) override;

 private:
  struct LoadThread {
    std::thread thread;
    bool done = false;  // guarded by loads_mutex_
  };

  engine::ModelRegistry* registry_;
  Authorizer authorizer_;
  UnloadedHook on_unloaded_;
  std::mutex loads_mutex_;
  std::list<LoadThread> loads_;  // guarded by loads_mutex_; finished ones are joined lazily
};

// Engine entry -> wire message.
void ToProto(const engine::ModelEntry& entry, v1::ModelInfo* out);

}  // namespace trustformers::server
