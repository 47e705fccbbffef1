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

struct HttpConfig {
  // host:port the REST gateway (OpenAI-compatible routes, JSON mirror of the gRPC API, health,
  // metrics) listens on; port 0 picks a free port. Empty: no REST gateway.
  std::string address = "0.0.0.0:8080";
  // Threads running the gateway's sockets; they never wait on a model, so a few serve thousands of
  // connections (streams included).
  int64_t io_threads = 2;
  // Largest request body; a larger one is refused with 413 before it is read.
  int64_t max_body_bytes = 16 * 1024 * 1024;
  // Time a client has to send a request's headers, and then its body, once it started sending.
  double header_timeout_s = 10.0;
  double body_timeout_s = 60.0;
  // A keep-alive connection with no request for this long is closed.
  double idle_timeout_s = 60.0;
  // A response the client reads no byte of for this long ends the connection (slow readers).
  double write_timeout_s = 60.0;
  // Open connections at most; more are answered 503 and closed.
  int64_t max_connections = 10000;

  bool operator==(const HttpConfig&) const = default;
};

struct AuthConfig {
  // A file with one API key per line (blank lines and # comments ignored).
  std::string api_keys_file;
  // An environment variable with comma-separated API keys, read at start-up.
  std::string api_keys_env = "TRUSTFORMERS_API_KEYS";
  // With keys configured, /healthz, /readyz, /metrics and grpc.health.v1.Health still answer
  // without one when true (probes and scrapers usually carry no key).
  bool open_health_and_metrics = true;

  bool operator==(const AuthConfig&) const = default;
};

struct TlsConfig {
  // PEM certificate chain and private key; both set turns TLS on for gRPC and HTTP.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const TlsConfig&) const = default;
};

struct LimitsConfig {
  // Requests waiting per model before new ones are refused with RESOURCE_EXHAUSTED (HTTP 429,
  // with Retry-After): generation, and the encoders' Embed/Classify.
  int64_t max_queued_generate_requests = 256;
  int64_t max_queued_encoder_requests = 1024;
  // Per generation request: prompt tokens and max_tokens (0: up to the model's context), choices
  // (n) and stop strings.
  int64_t max_prompt_tokens = 0;
  int64_t max_new_tokens = 0;
  int64_t max_choices = 16;
  int64_t max_stop_strings = 16;
  // Concurrent calls (streams) on one gRPC connection; HTTP/1.1 has one per connection, bounded
  // by http.max_connections.
  int64_t max_concurrent_streams = 256;

  bool operator==(const LimitsConfig&) const = default;
};

struct EngineConfig {
  // Memory of each decoder model's paged KV cache, in MiB, and positions per block.
  int64_t kv_cache_mib = 512;
  int64_t kv_block_tokens = 16;
  // Sequences (choices) decoded together in one batch, and tokens per batched step.
  int64_t max_running_sequences = 64;
  // A step's time grows with its tokens, and every decoding sequence waits for the step: the
  // budget bounds the gap between tokens while prompts are prefilled (CPU prefill runs a few
  // hundred tokens per second per few cores).
  int64_t max_batch_tokens = 256;
  // Prompt tokens one sequence prefills per step, so long prompts do not stall decoding.
  int64_t prefill_chunk_tokens = 256;
  // Reuse the KV rows of prompt blocks computed before (a repeated system prompt is computed once).
  bool prefix_caching = true;
  // Copy GGUF weights into memory backed by huge pages (decoding streams them faster) instead of
  // mapping the file (no copy, pages shared with other processes and loaded lazily).
  bool weights_in_memory = true;

  bool operator==(const EngineConfig&) const = default;
};

struct FineTuningConfig {
  // Serve the FineTuning API (gRPC and /v1/files, /v1/fine_tuning/ over REST). false: its calls
  // answer UNAVAILABLE.
  bool enabled = true;
  // Folder of the job store (jobs.sqlite), uploaded files and each job's checkpoints and model.
  // Empty: "fine-tuning" under the folder relative model paths resolve against (ResolvedModelDir).
  // One server process uses it at a time; a second one finding it locked serves no fine-tuning.
  std::string data_dir;
  // Largest upload, in bytes.
  int64_t max_file_bytes = int64_t{512} * 1024 * 1024;
  // Jobs training at once (each on its own thread), and jobs validating, queued or running at
  // once; CreateJob beyond it is refused with RESOURCE_EXHAUSTED.
  int64_t max_running_jobs = 1;
  int64_t max_queued_jobs = 64;
  // CPU threads a training job uses; 0: all of them. Inference keeps the rest.
  int64_t train_threads = 0;

  bool operator==(const FineTuningConfig&) const = default;
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
  HttpConfig http;
  AuthConfig auth;
  TlsConfig tls;
  LimitsConfig limits;
  EngineConfig engine;
  LoggingConfig logging;
  FineTuningConfig fine_tuning;
  // Folder relative model paths resolve against. Empty: $TRUSTFORMERS_HOME, else
  // ~/.cache/trustformers/models (where scripts/fetch-models.sh puts the default models).
  std::string model_dir;
  std::vector<ModelConfig> models;

  bool operator==(const Config&) const = default;
};

// The folder relative model paths resolve against, after applying the rules of Config::model_dir.
std::string ResolvedModelDir(const Config& config);

// fine_tuning.data_dir, or its default under ResolvedModelDir.
std::string ResolvedFineTuningDir(const Config& config);

// A model's path made absolute against ResolvedModelDir.
std::string ResolvedModelPath(const Config& config, const ModelConfig& model);

}  // namespace trustformers::config
