#include "server/http/openai_routes.h"

#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include "server/http/json_io.h"
#include "server/http/openai/chat_request.h"
#include "server/http/openai/completion_request.h"
#include "server/http/openai/embeddings.h"
#include "server/http/openai/json_output.h"
#include "server/http/openai/models_list.h"
#include "server/http/openai/openai_error.h"
#include "server/http/openai/response_aggregator.h"
#include "server/http/openai/response_common.h"
#include "server/http/openai/stream_converter.h"

namespace trustformers::server::http {
namespace {

// One OpenAI generation request: one Generate stream per prompt, all feeding one converter (SSE)
// or aggregator (whole response) under a lock, since each stream reports on its own gRPC thread.
// The HTTP status is committed once the engine admitted the request, so a request it refuses
// gets its 4xx/5xx rather than an event stream.
class GenerationRun : public std::enable_shared_from_this<GenerationRun> {
 public:
  GenerationRun(std::shared_ptr<HttpExchange> exchange, openai::ResponseOptions options,
                bool stream)
      : exchange_(std::move(exchange)),
        stream_(stream),
        converter_(options),
        aggregator_(options) {}

  void Start(GrpcBridge* bridge, std::vector<v1::GenerateRequest> requests) {
    std::lock_guard lock(mutex_);
    pending_ = static_cast<int>(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      const auto index = static_cast<int32_t>(i);
      auto self = shared_from_this();
      cancels_.push_back(bridge->Generate(
          exchange_, std::move(requests[i]), [self] { self->OnAccepted(); },
          [self, index](const v1::GenerateResponse& message) { self->OnMessage(index, message); },
          [self](const grpc::Status& status) { self->OnDone(status); }));
    }
  }

 private:
  // Streaming: the 200 and the event-stream headers go out as soon as the engine admitted the
  // request, so a client waiting in the queue knows it was not refused.
  void OnAccepted() {
    std::lock_guard lock(mutex_);
    if (stream_ && !started_ && !failure_) {
      started_ = true;
      exchange_->StartEvents();
    }
  }

  void OnMessage(int32_t prompt_index, const v1::GenerateResponse& message) {
    std::lock_guard lock(mutex_);
    if (failure_) return;
    if (!stream_) {
      if (absl::Status status = aggregator_.Add(message, prompt_index); !status.ok()) {
        Fail(openai::ApiErrorFromStatus(status));
      }
      return;
    }
    openai::StreamEvents events = converter_.Convert(message, prompt_index);
    if (!events.chunks.empty() && !started_) {
      started_ = true;
      exchange_->StartEvents();
    }
    for (const nlohmann::json& chunk : events.chunks) {
      exchange_->SendEvent(openai::DumpJson(chunk));
    }
    if (events.error) Fail(*events.error);
  }

  void OnDone(const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    if (!status.ok() && !failure_) {
      Fail(openai::ApiErrorFromStatus(FromGrpcStatus(status)));
    }
    if (--pending_ > 0) return;
    // Every stream ended: answer.
    if (failure_) {
      if (!started_) return RespondApiError(*exchange_, *failure_);
      exchange_->SendEvent(openai::DumpJson(openai::ErrorBody(*failure_)));
      return exchange_->EndEvents();
    }
    if (!stream_) {
      absl::StatusOr<nlohmann::json> body = aggregator_.Finish();
      if (!body.ok()) return RespondApiError(*exchange_, openai::ApiErrorFromStatus(body.status()));
      return RespondJson(*exchange_, 200, openai::DumpJson(*body));
    }
    if (!started_) exchange_->StartEvents();
    exchange_->SendEvent("[DONE]");
    exchange_->EndEvents();
  }

  // Under mutex_: the first failure wins and stops every stream still running.
  void Fail(openai::ApiError error) {
    if (failure_) return;
    failure_ = std::move(error);
    for (const auto& cancel : cancels_) cancel();
  }

  std::shared_ptr<HttpExchange> exchange_;
  const bool stream_;
  std::mutex mutex_;
  openai::StreamConverter converter_;      // guarded by mutex_
  openai::ResponseAggregator aggregator_;  // guarded by mutex_
  std::vector<std::function<void()>> cancels_;
  int pending_ = 0;                          // guarded by mutex_
  bool started_ = false;                     // guarded by mutex_
  std::optional<openai::ApiError> failure_;  // guarded by mutex_
};

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The parsed JSON body, or the 400 already sent.
std::optional<nlohmann::json> BodyOrRespond(HttpExchange& exchange) {
  absl::StatusOr<nlohmann::json> body = ParseJsonBody(exchange.request().body);
  if (!body.ok()) {
    RespondError(exchange, body.status());
    return std::nullopt;
  }
  return *std::move(body);
}

void ChatCompletions(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange) {
  std::optional<nlohmann::json> body = BodyOrRespond(*exchange);
  if (!body) return;
  absl::StatusOr<openai::ChatCompletionRequest> request = openai::ParseChatCompletionRequest(*body);
  if (!request.ok()) return RespondError(*exchange, request.status());
  openai::ResponseOptions options = openai::ResponseOptionsFor(*request);
  options.created = UnixSeconds();
  auto run = std::make_shared<GenerationRun>(exchange, options, request->flags.stream);
  std::vector<v1::GenerateRequest> generates;
  generates.push_back(std::move(request->generate));
  run->Start(bridge, std::move(generates));
}

void Completions(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange) {
  std::optional<nlohmann::json> body = BodyOrRespond(*exchange);
  if (!body) return;
  absl::StatusOr<openai::CompletionRequest> request = openai::ParseCompletionRequest(*body);
  if (!request.ok()) return RespondError(*exchange, request.status());
  openai::ResponseOptions options = openai::ResponseOptionsFor(*request);
  options.created = UnixSeconds();
  auto run = std::make_shared<GenerationRun>(exchange, options, request->flags.stream);
  run->Start(bridge, std::move(request->generates));
}

void Embeddings(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange) {
  std::optional<nlohmann::json> body = BodyOrRespond(*exchange);
  if (!body) return;
  absl::StatusOr<openai::EmbeddingsRequest> request = openai::ParseEmbeddingsRequest(*body);
  if (!request.ok()) return RespondError(*exchange, request.status());
  const openai::EmbeddingEncoding encoding = request->encoding;
  v1::Inference::Stub::async_interface* inference = bridge->inference().async();
  bridge->Unary<v1::EmbedRequest, v1::EmbedResponse>(
      exchange, std::move(request->embed),
      [inference](auto* context, auto* message, auto* response, auto done) {
        inference->Embed(context, message, response, std::move(done));
      },
      [exchange, encoding](const grpc::Status& status, const v1::EmbedResponse& response) {
        if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
        RespondJson(*exchange, 200,
                    openai::DumpJson(openai::EmbeddingsResponseJson(response, encoding)));
      });
}

// OpenAI's delete-model endpoint: unloads a run-time or fine-tuned model (never forced, so a base
// model from the configuration is refused with 422). Answers once unloading began; calls in
// flight finish on the model.
void DeleteModel(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange) {
  v1::UnloadModelRequest request;
  request.set_name(exchange->request().path_params.at("model"));
  v1::Models::Stub::async_interface* models = bridge->models().async();
  bridge->Unary<v1::UnloadModelRequest, v1::UnloadModelResponse>(
      exchange, std::move(request),
      [models](auto* context, auto* message, auto* response, auto done) {
        models->UnloadModel(context, message, response, std::move(done));
      },
      [exchange](const grpc::Status& status, const v1::UnloadModelResponse& response) {
        if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
        RespondJson(*exchange, 200,
                    openai::DumpJson(openai::DeletedModelJson(response.model().name())));
      });
}

}  // namespace

void AddOpenAiRoutes(Router& router, GrpcBridge* bridge) {
  router.Add("POST", "/v1/chat/completions", [bridge](std::shared_ptr<HttpExchange> exchange) {
    ChatCompletions(bridge, exchange);
  });
  router.Add("POST", "/v1/completions",
             [bridge](std::shared_ptr<HttpExchange> exchange) { Completions(bridge, exchange); });
  router.Add("POST", "/v1/embeddings",
             [bridge](std::shared_ptr<HttpExchange> exchange) { Embeddings(bridge, exchange); });

  router.Add("GET", "/v1/models", [bridge](std::shared_ptr<HttpExchange> exchange) {
    bridge->ListModels(exchange, [](const v1::ListModelsResponse& r) {
      return openai::DumpJson(openai::ModelListJson(r));
    });
  });
  router.Add("GET", "/v1/models/{model}", [bridge](std::shared_ptr<HttpExchange> exchange) {
    bridge->GetModel(exchange, exchange->request().path_params.at("model"),
                     [](const v1::ModelInfo& r) { return openai::DumpJson(openai::ModelJson(r)); });
  });
  router.Add("DELETE", "/v1/models/{model}",
             [bridge](std::shared_ptr<HttpExchange> exchange) { DeleteModel(bridge, exchange); });
}

}  // namespace trustformers::server::http
