// How the REST gateway reaches the models: through our own gRPC services over an in-process
// channel, so a JSON request gets exactly the validation, limits, errors and cancellation a gRPC
// client gets. Completions run on gRPC's threads; nothing here blocks an I/O thread.
// A client that leaves (the exchange's OnClientGone) cancels the call it was waiting on.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "server/http/http_exchange.h"
#include "trustformers/v1/fine_tuning.grpc.pb.h"
#include "trustformers/v1/inference.grpc.pb.h"
#include "trustformers/v1/models.grpc.pb.h"

namespace trustformers::server::http {

class GrpcBridge {
 public:
  explicit GrpcBridge(std::shared_ptr<grpc::Channel> channel);

  v1::Inference::Stub& inference() { return *inference_; }
  v1::Models::Stub& models() { return *models_; }
  v1::FineTuning::Stub& fine_tuning() { return *fine_tuning_; }

  // Gives a call made for `exchange` the exchange's Authorization header as `authorization`
  // metadata, and marks it as the gateway's (counted once, as an HTTP request).
  static void Prepare(const HttpExchange& exchange, grpc::ClientContext* context);

  // Runs one unary call for `exchange`: `invoke(context, request, response, on_done)` starts it
  // on a stub's async() interface; `done(status, response)` runs once when it ends. The
  // exchange's Authorization header travels as the call's `authorization` metadata.
  template <class Request, class Response, class Invoke>
  void Unary(const std::shared_ptr<HttpExchange>& exchange, Request request, Invoke invoke,
             std::function<void(const grpc::Status&, const Response&)> done) {
    struct Call {
      grpc::ClientContext context;
      Request request;
      Response response;
    };
    auto call = std::make_shared<Call>();
    call->request = std::move(request);
    Prepare(*exchange, &call->context);
    exchange->OnClientGone([weak = std::weak_ptr<Call>(call)] {
      if (auto alive = weak.lock()) alive->context.TryCancel();
    });
    invoke(&call->context, &call->request, &call->response,
           [call, done = std::move(done)](grpc::Status status) { done(status, call->response); });
  }

  // Streams a Generate call: `on_accepted` once the server admitted it (it may wait in a queue;
  // not called for a refusal), `on_message` for each response in order, then `on_done` once.
  // The returned function cancels the call (a no-op once it ended).
  std::function<void()> Generate(const std::shared_ptr<HttpExchange>& exchange,
                                 v1::GenerateRequest request, std::function<void()> on_accepted,
                                 std::function<void(const v1::GenerateResponse&)> on_message,
                                 std::function<void(const grpc::Status&)> on_done);

  // Models.ListModels and Models.GetModel answered as JSON: `render` makes the body of a success;
  // errors get the gateway's error body.
  void ListModels(const std::shared_ptr<HttpExchange>& exchange,
                  std::function<std::string(const v1::ListModelsResponse&)> render);
  void GetModel(const std::shared_ptr<HttpExchange>& exchange, std::string name,
                std::function<std::string(const v1::ModelInfo&)> render);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Inference::Stub> inference_;
  std::unique_ptr<v1::Models::Stub> models_;
  std::unique_ptr<v1::FineTuning::Stub> fine_tuning_;
};

}  // namespace trustformers::server::http
