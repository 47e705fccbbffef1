#include "server/http/gateway.h"

#include "server/http/fine_tuning_routes.h"
#include "server/http/mirror_routes.h"
#include "server/http/openai_routes.h"
#include "server/http/operation_routes.h"

namespace trustformers::server::http {

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const config::Config& config,
                                                        const engine::ModelRegistry* registry,
                                                        std::shared_ptr<grpc::Channel> channel,
                                                        GatewayOptions options) {
  std::unique_ptr<Gateway> gateway(new Gateway());
  gateway->bridge_ = std::make_unique<GrpcBridge>(std::move(channel));
  Gateway* raw = gateway.get();
  AddOperationRoutes(
      gateway->router_,
      {registry, [raw] { return raw->server_ != nullptr && raw->server_->draining(); },
       options.metrics_text});
  AddMirrorRoutes(gateway->router_, gateway->bridge_.get());
  AddOpenAiRoutes(gateway->router_, gateway->bridge_.get());
  AddFineTuningRoutes(gateway->router_, gateway->bridge_.get(), config.fine_tuning.max_file_bytes);

  HttpServerOptions server_options;
  server_options.http = config.http;
  server_options.tls = config.tls;
  server_options.authorize = options.authorizer;
  server_options.open_operations = config.auth.open_health_and_metrics;
  server_options.record = options.record;
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(std::move(server_options), &gateway->router_);
  if (!server.ok()) return server.status();
  gateway->server_ = *std::move(server);
  return gateway;
}

}  // namespace trustformers::server::http
