// trustformers.v1.Inference over gRPC: turns wire messages into engine calls and back. Requests
// are validated and tokenized on gRPC's threads; the model work runs on each model's queue
// thread, and the reply is sent from there, so no gRPC thread waits on a model.
#pragma once

#include <atomic>

#include "engine/model_registry.h"
#include "server/call_authorizer.h"
#include "trustformers/v1/inference.grpc.pb.h"

namespace trustformers::server {

class InferenceService final : public v1::Inference::CallbackService {
 public:
  // `registry` must outlive the service. `authorizer` checks each call's API key.
  explicit InferenceService(const engine::ModelRegistry* registry, Authorizer authorizer = {})
      : registry_(registry), authorizer_(std::move(authorizer)) {}

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* context,
                                  const v1::EmbedRequest* request,
                                  v1::EmbedResponse* response) override;
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;

 private:
  // The encoder behind `name`: NOT_FOUND, UNAVAILABLE while loading, FAILED_PRECONDITION when
  // the model is not an encoder.
  absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> Encoder(const std::string& name,
                                                                 const char* task) const;
  // The ready model behind `name`, with the same errors, whatever its kind.
  absl::StatusOr<engine::ModelEntry> ReadyModel(const std::string& name) const;
  std::string RequestId(const std::string& given, const char* prefix);

  const engine::ModelRegistry* registry_;
  Authorizer authorizer_;
  std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace trustformers::server
