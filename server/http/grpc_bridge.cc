#include "server/http/grpc_bridge.h"

#include "server/generate_reactor.h"
#include "server/http/json_io.h"
#include "server/server_metrics.h"

namespace trustformers::server::http {
namespace {

// Owns itself until gRPC reports the end (OnDone); the exchange's cancel hook holds only a weak
// reference, so a late disconnect never touches a finished call.
class GenerateStream final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  GenerateStream(v1::GenerateRequest request, std::function<void()> on_accepted,
                 std::function<void(const v1::GenerateResponse&)> on_message,
                 std::function<void(const grpc::Status&)> on_done)
      : request_(std::move(request)),
        on_accepted_(std::move(on_accepted)),
        on_message_(std::move(on_message)),
        on_done_(std::move(on_done)) {}

  static void Start(std::shared_ptr<GenerateStream> stream, v1::Inference::Stub& stub) {
    GenerateStream& self = *stream;
    self.self_ = std::move(stream);
    stub.async()->Generate(&self.context_, &self.request_, &self);
    self.StartRead(&self.response_);
    self.StartCall();
  }

  grpc::ClientContext& context() { return context_; }

  // Headers with kGenerateAdmittedMetadata mean the server admitted the call; a refusal's
  // headers come without it.
  void OnReadInitialMetadataDone(bool ok) override {
    if (!ok || !on_accepted_) return;
    if (context_.GetServerInitialMetadata().count(kGenerateAdmittedMetadata) > 0) on_accepted_();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    on_message_(response_);
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    on_done_(status);
    on_accepted_ = nullptr;
    on_message_ = nullptr;
    on_done_ = nullptr;
    self_.reset();  // may destroy this
  }

 private:
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  std::function<void()> on_accepted_;
  std::function<void(const v1::GenerateResponse&)> on_message_;
  std::function<void(const grpc::Status&)> on_done_;
  std::shared_ptr<GenerateStream> self_;
};

}  // namespace

GrpcBridge::GrpcBridge(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      inference_(v1::Inference::NewStub(channel_)),
      models_(v1::Models::NewStub(channel_)),
      fine_tuning_(v1::FineTuning::NewStub(channel_)) {}

void GrpcBridge::Prepare(const HttpExchange& exchange, grpc::ClientContext* context) {
  const std::string& authorization = exchange.request().authorization;
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  // Counted once, as an HTTP request, not again as a gRPC call.
  context->AddMetadata(kGatewayCallMetadata, "1");
}

std::function<void()> GrpcBridge::Generate(
    const std::shared_ptr<HttpExchange>& exchange, v1::GenerateRequest request,
    std::function<void()> on_accepted, std::function<void(const v1::GenerateResponse&)> on_message,
    std::function<void(const grpc::Status&)> on_done) {
  auto stream = std::make_shared<GenerateStream>(std::move(request), std::move(on_accepted),
                                                 std::move(on_message), std::move(on_done));
  Prepare(*exchange, &stream->context());
  auto cancel = [weak = std::weak_ptr<GenerateStream>(stream)] {
    if (auto alive = weak.lock()) alive->context().TryCancel();
  };
  exchange->OnClientGone(cancel);
  GenerateStream::Start(std::move(stream), *inference_);
  return cancel;
}

void GrpcBridge::ListModels(const std::shared_ptr<HttpExchange>& exchange,
                            std::function<std::string(const v1::ListModelsResponse&)> render) {
  v1::Models::Stub::async_interface* models = models_->async();
  Unary<v1::ListModelsRequest, v1::ListModelsResponse>(
      exchange, v1::ListModelsRequest{},
      [models](auto* context, auto* request, auto* response, auto done) {
        models->ListModels(context, request, response, std::move(done));
      },
      [exchange, render = std::move(render)](const grpc::Status& status,
                                             const v1::ListModelsResponse& response) {
        if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
        RespondJson(*exchange, 200, render(response));
      });
}

void GrpcBridge::GetModel(const std::shared_ptr<HttpExchange>& exchange, std::string name,
                          std::function<std::string(const v1::ModelInfo&)> render) {
  v1::Models::Stub::async_interface* models = models_->async();
  v1::GetModelRequest request;
  request.set_name(std::move(name));
  Unary<v1::GetModelRequest, v1::ModelInfo>(
      exchange, std::move(request),
      [models](auto* context, auto* message, auto* response, auto done) {
        models->GetModel(context, message, response, std::move(done));
      },
      [exchange, render = std::move(render)](const grpc::Status& status,
                                             const v1::ModelInfo& response) {
        if (!status.ok()) return RespondError(*exchange, FromGrpcStatus(status));
        RespondJson(*exchange, 200, render(response));
      });
}

}  // namespace trustformers::server::http
