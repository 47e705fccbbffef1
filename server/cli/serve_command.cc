// `trustformers serve`: load the config, open the fine-tuning job store, start the gRPC front end,
// load the models, start the fine-tuning jobs, serve until SIGTERM/SIGINT, drain, exit 0.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "backends/device.h"
#include "build_info.h"
#include "config/config_loader.h"
#include "config/config_values.h"
#include "engine/model_registry.h"
#include "server/auth/api_keys.h"
#include "server/cli/commands.h"
#include "server/cli/fine_tuning_setup.h"
#include "server/fmt_absl.h"
#include "server/grpc_server.h"
#include "server/http/gateway.h"
#include "server/logging.h"
#include "server/server_metrics.h"
#include "server/shutdown_signals.h"
#include "spdlog/spdlog.h"

namespace trustformers::cli {
namespace {

struct ServeOptions {
  std::string config_path = "config/default.yaml";
  std::string grpc_address;
  std::string http_address;
  std::string log_level;
  std::string port_file;
  std::string http_port_file;
};

// Written whole then renamed, so a reader never sees a partial number.
void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string temp = path + ".tmp";
  std::ofstream(temp) << port << "\n";
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) spdlog::warn("cannot write port file {}: {}", path, ec.message());
}

int Serve(const ServeOptions& options) {
  server::BlockShutdownSignals();  // before gRPC or anything else starts a thread

  absl::StatusOr<config::Config> loaded = config::LoadConfigFile(options.config_path);
  if (!loaded.ok()) {
    std::cerr << "trustformers: invalid configuration: " << loaded.status().message() << "\n";
    return 2;
  }
  config::Config config = *std::move(loaded);
  if (!options.grpc_address.empty()) {
    if (std::string problem = config::ListenAddressProblem(options.grpc_address);
        !problem.empty()) {
      std::cerr << "trustformers: --grpc-address: " << problem << "\n";
      return 2;
    }
    config.server.grpc_address = options.grpc_address;
  }
  if (!options.http_address.empty()) {
    if (std::string problem = config::ListenAddressProblem(options.http_address);
        !problem.empty()) {
      std::cerr << "trustformers: --http-address: " << problem << "\n";
      return 2;
    }
    config.http.address = options.http_address;
  }
  if (absl::Status status = server::SetUpLogging(config.logging, options.log_level); !status.ok()) {
    std::cerr << "trustformers: " << status.message() << "\n";
    return 2;
  }
  spdlog::info("trustformers {} starting with {}; backends: {}", kVersion, options.config_path,
               absl::StrJoin(backends::CompiledBackends(), ", "));

  absl::StatusOr<server::ApiKeys> keys =
      server::ApiKeys::Load(config.auth.api_keys_file, config.auth.api_keys_env);
  if (!keys.ok()) {
    spdlog::error("auth: {}", keys.status().message());
    return 2;
  }
  server::Authorizer authorizer;
  if (keys->enabled()) {
    authorizer = [keys = *std::move(keys)](std::string_view header) {
      return keys.CheckAuthorization(header);
    };
    spdlog::info("API keys required on gRPC and HTTP (health and metrics {})",
                 config.auth.open_health_and_metrics ? "open" : "need a key too");
  }
  engine::MetricsRegistry metrics_registry;
  engine::ModelRegistry registry(config, {}, &metrics_registry);
  server::ServerMetrics metrics(&registry, &metrics_registry);
  // Before the gRPC server (its service points into it), so it is destroyed after.
  std::unique_ptr<FineTuningSetup> fine_tuning = FineTuningSetup::Open(config, &registry);
  server::GrpcServerOptions grpc_options;
  grpc_options.fine_tuning = fine_tuning->backend();
  grpc_options.authorizer = authorizer;
  grpc_options.interceptors.push_back(metrics.InterceptorFactory());
  absl::StatusOr<std::unique_ptr<server::GrpcServer>> started =
      server::GrpcServer::Start(config, &registry, std::move(grpc_options));
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return 1;
  }
  server::GrpcServer& grpc_server = **started;
  spdlog::info("gRPC listening on {} (port {})", config.server.grpc_address, grpc_server.port());
  std::unique_ptr<server::http::Gateway> gateway;
  if (!config.http.address.empty()) {
    server::http::GatewayOptions gateway_options;
    gateway_options.authorizer = authorizer;
    gateway_options.metrics_text = [&metrics] { return metrics.Render(); };
    gateway_options.record = [&metrics](const std::string& method, const std::string& route,
                                        int status, double seconds) {
      metrics.RecordHttp(method, route, status, seconds);
    };
    absl::StatusOr<std::unique_ptr<server::http::Gateway>> gateway_started =
        server::http::Gateway::Start(config, &registry, grpc_server.InProcessChannel(),
                                     std::move(gateway_options));
    if (!gateway_started.ok()) {
      spdlog::error("{}", gateway_started.status().message());
      grpc_server.Shutdown(std::chrono::milliseconds(0));
      return 1;
    }
    gateway = *std::move(gateway_started);
    metrics.SetOpenConnections([gateway = gateway.get()] { return gateway->open_connections(); });
    spdlog::info("HTTP listening on {} (port {}){}", config.http.address, gateway->port(),
                 config.tls.enabled() ? " with TLS" : "");
    WritePortFile(options.http_port_file, gateway->port());
  }
  WritePortFile(options.port_file, grpc_server.port());

  // Serialises "start serving" against "start draining" so a signal during model loading can
  // never be followed by SERVING.
  std::mutex serving_mutex;
  bool draining = false;
  absl::Notification stop;
  server::ShutdownSignalWatcher signals([&](int) {
    std::lock_guard lock(serving_mutex);
    draining = true;
    grpc_server.SetServing(false);
    if (gateway != nullptr) gateway->SetDraining();
    stop.Notify();
  });

  if (absl::Status status = registry.LoadConfiguredModels(); !status.ok()) {
    spdlog::error("start-up failed: {}", status.message());
    if (gateway != nullptr) gateway->Shutdown(std::chrono::milliseconds(0));
    grpc_server.Shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  fine_tuning->Start();
  {
    std::lock_guard lock(serving_mutex);
    if (!draining) {
      grpc_server.SetServing(true);
      std::vector<std::string> names;
      for (const engine::ModelEntry& entry : registry.List()) names.push_back(entry.name);
      spdlog::info("serving {} model(s): {}", names.size(), absl::StrJoin(names, ", "));
    }
  }

  stop.WaitForNotification();
  const auto grace = std::chrono::milliseconds(
      static_cast<int64_t>(config.server.shutdown_grace_period_s * 1000.0));
  spdlog::info("health NOT_SERVING; letting calls in flight finish for up to {} ms", grace.count());
  // Training stops at its next step (the job resumes after a restart) before the front ends go.
  fine_tuning->Shutdown();
  // HTTP first: its requests are calls on the gRPC services, which must outlive them.
  const auto started_drain = std::chrono::steady_clock::now();
  if (gateway != nullptr) gateway->Shutdown(grace);
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_drain);
  grpc_server.Shutdown(std::max(std::chrono::milliseconds(0), grace - spent));
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the configured models over gRPC and HTTP");
  cmd->add_option("-c,--config", options->config_path, "YAML configuration file")
      ->capture_default_str();
  cmd->add_option("--grpc-address", options->grpc_address,
                  "Override server.grpc_address (host:port)");
  cmd->add_option("--http-address", options->http_address,
                  "Override http.address (host:port) of the REST gateway");
  cmd->add_option("--log-level", options->log_level,
                  "Override logging.level (trace, debug, info, warn, error, critical, off)");
  cmd->add_option("--port-file", options->port_file,
                  "Write the bound gRPC port to this file once listening (for port 0)");
  cmd->add_option("--http-port-file", options->http_port_file,
                  "Write the bound HTTP port to this file once listening (for port 0)");
  cmd->callback([options, exit_code] { *exit_code = Serve(*options); });
}

}  // namespace trustformers::cli
