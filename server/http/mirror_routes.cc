#include "server/http/mirror_routes.h"

#include <mutex>

#include "server/http/error_body.h"
#include "server/http/json_io.h"

namespace trustformers::server::http {
namespace {

constexpr const char* kPrefix = "/v1/trustformers";

// A unary RPC behind a POST route whose body is the request message.
template <class Request, class Response, class Invoke>
Handler PostUnary(GrpcBridge* bridge, Invoke invoke) {
  return [bridge, invoke](std::shared_ptr<HttpExchange> exchange) {
    Request request;
    if (absl::Status status = ParseProtoJson(exchange->request().body, &request); !status.ok()) {
      return RespondError(*exchange, status);
    }
    bridge->Unary<Request, Response>(
        exchange, std::move(request), invoke,
        [exchange](const grpc::Status& status, const Response& response) {
          if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
          RespondJson(*exchange, 200, ProtoToJson(response));
        });
  };
}

// Streams Generate as events; the HTTP status is committed once the engine admitted the request,
// so a refused request still gets its proper 4xx/5xx response.
void Generate(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange) {
  v1::GenerateRequest request;
  if (absl::Status status = ParseProtoJson(exchange->request().body, &request); !status.ok()) {
    return RespondError(*exchange, status);
  }
  struct StreamState {
    std::mutex mutex;
    bool started = false;  // guarded by mutex
  };
  auto state = std::make_shared<StreamState>();
  bridge->Generate(
      exchange, std::move(request),
      [exchange, state] {
        std::lock_guard lock(state->mutex);
        if (!state->started) {
          state->started = true;
          exchange->StartEvents();
        }
      },
      [exchange, state](const v1::GenerateResponse& message) {
        std::lock_guard lock(state->mutex);
        if (!state->started) {
          state->started = true;
          exchange->StartEvents();
        }
        exchange->SendEvent(ProtoToJson(message));
      },
      [exchange, state](const grpc::Status& status) {
        std::lock_guard lock(state->mutex);
        if (!state->started) {
          if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
          exchange->StartEvents();
        } else if (!status.ok()) {
          exchange->SendEvent(HttpErrorFor(FromGrpcStatus(status)).body);
        }
        exchange->EndEvents();
      });
}

}  // namespace

void AddMirrorRoutes(Router& router, GrpcBridge* bridge) {
  auto path = [](const char* tail) { return std::string(kPrefix) + tail; };
  v1::Inference::Stub::async_interface* inference = bridge->inference().async();
  v1::Models::Stub::async_interface* models = bridge->models().async();

  router.Add("POST", path("/embed"),
             PostUnary<v1::EmbedRequest, v1::EmbedResponse>(
                 bridge, [inference](auto* context, auto* request, auto* response, auto done) {
                   inference->Embed(context, request, response, std::move(done));
                 }));
  router.Add("POST", path("/classify"),
             PostUnary<v1::ClassifyRequest, v1::ClassifyResponse>(
                 bridge, [inference](auto* context, auto* request, auto* response, auto done) {
                   inference->Classify(context, request, response, std::move(done));
                 }));
  router.Add("POST", path("/tokenize"),
             PostUnary<v1::TokenizeRequest, v1::TokenizeResponse>(
                 bridge, [inference](auto* context, auto* request, auto* response, auto done) {
                   inference->Tokenize(context, request, response, std::move(done));
                 }));
  router.Add("POST", path("/detokenize"),
             PostUnary<v1::DetokenizeRequest, v1::DetokenizeResponse>(
                 bridge, [inference](auto* context, auto* request, auto* response, auto done) {
                   inference->Detokenize(context, request, response, std::move(done));
                 }));
  router.Add("POST", path("/generate"),
             [bridge](std::shared_ptr<HttpExchange> exchange) { Generate(bridge, exchange); });

  router.Add("GET", path("/models"), [bridge](std::shared_ptr<HttpExchange> exchange) {
    bridge->ListModels(exchange, [](const v1::ListModelsResponse& r) { return ProtoToJson(r); });
  });
  router.Add("GET", path("/models/{model}"), [bridge](std::shared_ptr<HttpExchange> exchange) {
    bridge->GetModel(exchange, exchange->request().path_params.at("model"),
                     [](const v1::ModelInfo& r) { return ProtoToJson(r); });
  });
  router.Add("POST", path("/models"),
             PostUnary<v1::LoadModelRequest, v1::ModelInfo>(
                 bridge, [models](auto* context, auto* request, auto* response, auto done) {
                   models->LoadModel(context, request, response, std::move(done));
                 }));
  router.Add("DELETE", path("/models/{model}"),
             [bridge, models](std::shared_ptr<HttpExchange> exchange) {
               v1::UnloadModelRequest request;
               request.set_name(exchange->request().path_params.at("model"));
               request.set_force(exchange->request().query.count("force") > 0 &&
                                 exchange->request().query.at("force") == "true");
               bridge->Unary<v1::UnloadModelRequest, v1::UnloadModelResponse>(
                   exchange, std::move(request),
                   [models](auto* context, auto* message, auto* response, auto done) {
                     models->UnloadModel(context, message, response, std::move(done));
                   },
                   [exchange](const grpc::Status& status, const v1::UnloadModelResponse& response) {
                     if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
                     RespondJson(*exchange, 200, ProtoToJson(response));
                   });
             });
}

}  // namespace trustformers::server::http
