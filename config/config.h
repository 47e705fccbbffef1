// Typed server configuration. Every default lives here, in the member initialisers; the YAML
// loader (config_loader.h) only overrides what a file sets, and config/default.yaml documents the
// same values (a unit test keeps the two equal).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trustformers::config {

enum class LogFormat { kText, kJson };

struct LoggingConfig {
  // One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  LogFormat format = LogFormat::kText;

  bool operator==(const LoggingConfig&) const = default;
};

struct ServerConfig {
  // host:port the gRPC front end listens on; port 0 picks a free port (logged at start-up).
  std::string grpc_address = "0.0.0.0:50051";
  // Largest gRPC message accepted from a client, in bytes.
  int64_t max_receive_message_bytes = 16 * 1024 * 1024;
  // After SIGTERM/SIGINT: how long in-flight calls may run before they are cancelled.
  double shutdown_grace_period_s = 10.0;

  bool operator==(const ServerConfig&) const = default;
};

struct ModelConfig {
  // Name clients put in each request's `model` field.
  std::string name;
  // A Hugging Face folder or a .gguf file; relative paths resolve against Config::model_dir.
  std::string path;
  // Backend device: "cpu", "cuda:N" or "vulkan:N".
  std::string device = "cpu";

  bool operator==(const ModelConfig&) const = default;
};

struct Config {
  ServerConfig server;
  LoggingConfig logging;
  // Folder relative model paths resolve against. Empty: $TRUSTFORMERS_HOME, else
  // ~/.cache/trustformers/models (where scripts/fetch-models.sh puts the default models).
  std::string model_dir;
  std::vector<ModelConfig> models;

  bool operator==(const Config&) const = default;
};

// The folder relative model paths resolve against, after applying the rules of Config::model_dir.
std::string ResolvedModelDir(const Config& config);

// A model's path made absolute against ResolvedModelDir.
std::string ResolvedModelPath(const Config& config, const ModelConfig& model);

}  // namespace trustformers::config
