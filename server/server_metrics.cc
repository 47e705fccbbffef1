#include "server/server_metrics.h"

#include <chrono>
#include <cstdlib>

#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace trustformers::server {
namespace {

using engine::CollectedFamily;
using engine::MetricType;

template <class T>
T Must(absl::StatusOr<T> created) {
  // The names are constants of this file; a failure is a programming error caught by tests.
  if (!created.ok()) {
    spdlog::critical("metrics: {}", created.status().message());
    std::abort();
  }
  return *std::move(created);
}

class CallCounter final : public grpc::experimental::Interceptor {
 public:
  CallCounter(ServerMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), started_(Clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      const auto* metadata = methods->GetRecvInitialMetadata();
      from_gateway_ = metadata != nullptr && metadata->count(kGatewayCallMetadata) > 0;
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) && !from_gateway_) {
      const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
      metrics_->RecordGrpc(method_, static_cast<int>(methods->GetSendStatus().error_code()),
                           seconds);
    }
    methods->Proceed();
  }

 private:
  using Clock = std::chrono::steady_clock;
  ServerMetrics* metrics_;
  std::string method_;
  Clock::time_point started_;
  bool from_gateway_ = false;
};

class CallCounterFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(ServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallCounter(metrics_, info->method() != nullptr ? info->method() : "unknown");
  }

 private:
  ServerMetrics* metrics_;
};

const char* GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

}  // namespace

ServerMetrics::ServerMetrics(const engine::ModelRegistry* registry,
                             engine::MetricsRegistry* metrics)
    : metrics_(*metrics), open_connections_(std::make_shared<std::function<int64_t()>>()) {
  http_requests_ = Must(metrics_.AddCounter("trustformers_http_requests_total",
                                            "HTTP requests answered, by route and status.",
                                            {"method", "route", "status"}));
  http_seconds_ =
      Must(metrics_.AddHistogram("trustformers_http_request_duration_seconds",
                                 "HTTP request latency, to the end of the response.", {"route"}));
  grpc_requests_ = Must(metrics_.AddCounter("trustformers_grpc_requests_total",
                                            "gRPC calls finished, by method and status code.",
                                            {"method", "code"}));
  grpc_seconds_ =
      Must(metrics_.AddHistogram("trustformers_grpc_request_duration_seconds",
                                 "gRPC call latency, to the final status.", {"method"}));
  std::vector<CollectedFamily> families = {
      {"trustformers_http_open_connections", "Open HTTP connections.", MetricType::kGauge, {}},
      {"trustformers_model_ready",
       "1 when the model serves requests.",
       MetricType::kGauge,
       {"model"}},
      {"trustformers_num_requests_running",
       "Sequences (choices) in the model's running batch.",
       MetricType::kGauge,
       {"model"}},
      {"trustformers_num_requests_waiting",
       "Requests and sequences waiting for the model (queued, preempted, unforked choices).",
       MetricType::kGauge,
       {"model"}},
      {"trustformers_kv_cache_blocks_used",
       "KV cache blocks referenced by sequences.",
       MetricType::kGauge,
       {"model"}},
      {"trustformers_kv_cache_blocks_free",
       "KV cache blocks free or holding only reusable prefixes.",
       MetricType::kGauge,
       {"model"}},
      {"trustformers_kv_cache_blocks_total", "KV cache blocks.", MetricType::kGauge, {"model"}},
      {"trustformers_prefix_cache_hits_total",
       "Prompt blocks whose KV rows were reused from the prefix cache.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_prefix_cache_misses_total",
       "Prompt blocks looked up in the prefix cache and computed.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_preemptions_total",
       "Sequences that gave their KV blocks back to be recomputed later.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_engine_steps_total",
       "Batched forward steps (encoders: forward passes).",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_encoder_tokens_total",
       "Tokens run through an encoder.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_requests_cancelled_total",
       "Encoder requests whose caller left before their batch ran.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_requests_finished_total",
       "Requests finished.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_prompt_tokens_total",
       "Prompt tokens processed by generation.",
       MetricType::kCounter,
       {"model"}},
      {"trustformers_generation_tokens_total",
       "Tokens generated.",
       MetricType::kCounter,
       {"model"}},
  };
  auto open = open_connections_;
  absl::StatusOr<engine::CollectorId> added =
      metrics_.AddCollector(std::move(families), [registry, open](engine::CollectorSink& sink) {
        if (*open) {
          sink.Add("trustformers_http_open_connections", {}, static_cast<double>((*open)()));
        }
        for (const engine::ModelEntry& entry : registry->List()) {
          const bool ready = entry.state == engine::ModelState::kReady;
          sink.Add("trustformers_model_ready", {entry.name}, ready ? 1.0 : 0.0);
          if (entry.decoder != nullptr) {
            const engine::DecoderEngineCounters c = entry.decoder->counters();
            sink.Add("trustformers_num_requests_running", {entry.name},
                     static_cast<double>(c.running));
            sink.Add("trustformers_num_requests_waiting", {entry.name},
                     static_cast<double>(c.waiting));
            sink.Add("trustformers_kv_cache_blocks_used", {entry.name},
                     static_cast<double>(c.kv_blocks_used));
            sink.Add("trustformers_kv_cache_blocks_free", {entry.name},
                     static_cast<double>(c.kv_blocks_free));
            sink.Add("trustformers_kv_cache_blocks_total", {entry.name},
                     static_cast<double>(c.kv_blocks_total));
            sink.Add("trustformers_prefix_cache_hits_total", {entry.name},
                     static_cast<double>(c.prefix_hits));
            sink.Add("trustformers_prefix_cache_misses_total", {entry.name},
                     static_cast<double>(c.prefix_misses));
            sink.Add("trustformers_preemptions_total", {entry.name},
                     static_cast<double>(c.preemptions));
            sink.Add("trustformers_engine_steps_total", {entry.name}, static_cast<double>(c.steps));
            sink.Add("trustformers_requests_finished_total", {entry.name},
                     static_cast<double>(c.requests_finished));
            sink.Add("trustformers_prompt_tokens_total", {entry.name},
                     static_cast<double>(c.prompt_tokens));
            sink.Add("trustformers_generation_tokens_total", {entry.name},
                     static_cast<double>(c.generation_tokens));
          } else if (entry.encoder != nullptr) {
            const engine::EncoderQueueCounters c = entry.encoder->counters();
            sink.Add("trustformers_num_requests_running", {entry.name},
                     static_cast<double>(c.running));
            sink.Add("trustformers_num_requests_waiting", {entry.name},
                     static_cast<double>(c.queued));
            sink.Add("trustformers_requests_finished_total", {entry.name},
                     static_cast<double>(c.requests_finished));
            sink.Add("trustformers_requests_cancelled_total", {entry.name},
                     static_cast<double>(c.requests_cancelled));
            sink.Add("trustformers_engine_steps_total", {entry.name},
                     static_cast<double>(c.forward_passes));
            sink.Add("trustformers_encoder_tokens_total", {entry.name},
                     static_cast<double>(c.tokens));
          }
        }
      });
  models_collector_ = Must(std::move(added));
}

ServerMetrics::~ServerMetrics() { metrics_.RemoveCollector(models_collector_); }

void ServerMetrics::SetOpenConnections(std::function<int64_t()> open_connections) {
  *open_connections_ = std::move(open_connections);
}

void ServerMetrics::RecordHttp(const std::string& method, const std::string& route, int status,
                               double seconds) {
  if (auto counter = http_requests_->WithLabels({method, route, std::to_string(status)});
      counter.ok()) {
    (*counter)->Increment();
  }
  if (auto histogram = http_seconds_->WithLabels({route}); histogram.ok()) {
    (*histogram)->Observe(seconds);
  }
}

void ServerMetrics::RecordGrpc(const std::string& method, int code, double seconds) {
  if (auto counter = grpc_requests_->WithLabels({method, GrpcCodeName(code)}); counter.ok()) {
    (*counter)->Increment();
  }
  if (auto histogram = grpc_seconds_->WithLabels({method}); histogram.ok()) {
    (*histogram)->Observe(seconds);
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::InterceptorFactory() {
  return std::make_unique<CallCounterFactory>(this);
}

}  // namespace trustformers::server
