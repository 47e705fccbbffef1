// The REST gateway as `serve` runs it: the router with every route family, the bridge to the
// gRPC services, and the HTTP listener.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "engine/model_registry.h"
#include "grpcpp/channel.h"
#include "server/call_authorizer.h"
#include "server/http/grpc_bridge.h"
#include "server/http/http_server.h"
#include "server/http/router.h"

namespace trustformers::server::http {

struct GatewayOptions {
  Authorizer authorizer;
  // The Prometheus text of the server's metrics, for GET /metrics.
  std::function<std::string()> metrics_text;
  // Called once per finished request (metrics).
  std::function<void(const std::string& method, const std::string& route, int status,
                     double seconds)>
      record;
};

class Gateway {
 public:
  // Serves config.http.address (TLS per config.tls). `channel` reaches this process's gRPC
  // services; `registry` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(const config::Config& config,
                                                        const engine::ModelRegistry* registry,
                                                        std::shared_ptr<grpc::Channel> channel,
                                                        GatewayOptions options);

  int port() const { return server_->port(); }
  int64_t open_connections() const { return server_->open_connections(); }
  void SetDraining() { server_->SetDraining(); }
  void Shutdown(std::chrono::milliseconds grace) { server_->Shutdown(grace); }

 private:
  Gateway() = default;

  std::unique_ptr<GrpcBridge> bridge_;
  Router router_;
  std::unique_ptr<HttpServer> server_;  // last: stops before the routes it runs go away
};

}  // namespace trustformers::server::http
