// The gRPC front end: owns the grpc::Server with the Inference, Models and FineTuning services
// and the standard health service. RPCs not implemented yet answer UNIMPLEMENTED; FineTuning
// answers UNAVAILABLE unless the options give it its engine objects.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "engine/model_registry.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/fine_tuning_service.h"
#include "server/inference_service.h"
#include "server/models_service.h"
#include "trustformers/v1/fine_tuning.grpc.pb.h"
#include "trustformers/v1/inference.grpc.pb.h"

namespace trustformers::server {

struct GrpcServerOptions {
  // Checks every call's API key but the health service's; empty: no keys configured.
  Authorizer authorizer;
  // Run on every call (metrics).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  // The fine-tuning jobs service's engine objects (they must outlive the server); default: off.
  FineTuningBackend fine_tuning;
};

class GrpcServer {
 public:
  // Listens on config.server.grpc_address with health NOT_SERVING, over TLS when config.tls
  // names a certificate. UNAVAILABLE when the address cannot be bound (in use, no permission),
  // INVALID_ARGUMENT for unreadable TLS files. `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const config::Config& config,
                                                           engine::ModelRegistry* registry,
                                                           GrpcServerOptions options = {});

  // No listening port: callers reach it through InProcessChannel() only (the one-process CLI).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> StartInProcess(
      engine::ModelRegistry* registry);

  // A channel to this server that never leaves the process.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The port actually bound (differs from the config when it asked for port 0); 0 for Unix
  // sockets.
  int port() const { return port_; }

  // Overall and per-service health as grpc.health.v1.Health reports it.
  void SetServing(bool serving);

  // Refuses new calls, ends WatchJob streams with UNAVAILABLE (no events come once the job
  // manager stopped), lets other calls in flight run until `grace` has passed, cancels the rest,
  // and returns when every call has ended.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  GrpcServer(engine::ModelRegistry* registry, Authorizer authorizer, FineTuningBackend fine_tuning);

  ModelsService models_service_;
  InferenceService inference_service_;
  FineTuningService fine_tuning_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace trustformers::server
