// The server's metrics: request counts and latencies of both front ends, open HTTP connections,
// and per-model engine state read at scrape time. GET /metrics renders them.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine/metrics.h"
#include "engine/model_registry.h"
#include "grpcpp/support/server_interceptor.h"

namespace trustformers::server {

// Metadata the REST gateway puts on its in-process gRPC calls, so they count once, as HTTP.
inline constexpr const char* kGatewayCallMetadata = "x-trustformers-gateway";

class ServerMetrics {
 public:
  // `registry` and `metrics` must outlive this object; the engines record into `metrics` too.
  ServerMetrics(const engine::ModelRegistry* registry, engine::MetricsRegistry* metrics);
  ~ServerMetrics();

  engine::MetricsRegistry& metrics() { return metrics_; }

  void RecordHttp(const std::string& method, const std::string& route, int status, double seconds);
  void RecordGrpc(const std::string& method, int code, double seconds);

  // Reports open connections at scrape time.
  void SetOpenConnections(std::function<int64_t()> open_connections);

  std::string Render() const { return metrics_.RenderPrometheusText(); }

  // Counts every gRPC call but the gateway's own (see kGatewayCallMetadata).
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  engine::MetricsRegistry& metrics_;
  engine::CounterFamily* http_requests_ = nullptr;
  engine::HistogramFamily* http_seconds_ = nullptr;
  engine::CounterFamily* grpc_requests_ = nullptr;
  engine::HistogramFamily* grpc_seconds_ = nullptr;
  std::shared_ptr<std::function<int64_t()>> open_connections_;
  engine::CollectorId models_collector_ = 0;
};

}  // namespace trustformers::server
