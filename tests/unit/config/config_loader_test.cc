#include "config/config_loader.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "catch2/catch.hpp"

namespace trustformers::config {
namespace {

std::string ErrorOf(absl::string_view yaml) {
  absl::StatusOr<Config> config = ParseConfig(yaml, "test.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST_CASE("config: a complete file sets every field", "[config]") {
  absl::StatusOr<Config> config = ParseConfig(R"(
server:
  grpc_address: 127.0.0.1:6000
  max_receive_message_bytes: 2048
  shutdown_grace_period_s: 2.5
logging:
  level: debug
  format: json
model_dir: /models
models:
  - name: embedder
    path: minilm
  - name: chat
    path: /abs/chat.gguf
    device: cuda:1
)",
                                              "good.yaml");
  REQUIRE(config.ok());
  CHECK(config->server.grpc_address == "127.0.0.1:6000");
  CHECK(config->server.max_receive_message_bytes == 2048);
  CHECK(config->server.shutdown_grace_period_s == 2.5);
  CHECK(config->logging.level == "debug");
  CHECK(config->logging.format == LogFormat::kJson);
  REQUIRE(config->models.size() == 2);
  CHECK(config->models[0].device == "cpu");
  CHECK(config->models[1].device == "cuda:1");
  CHECK(ResolvedModelPath(*config, config->models[0]) == "/models/minilm");
  CHECK(ResolvedModelPath(*config, config->models[1]) == "/abs/chat.gguf");
}

TEST_CASE("config: an empty file gives the built-in defaults", "[config]") {
  absl::StatusOr<Config> config = ParseConfig("", "empty.yaml");
  REQUIRE(config.ok());
  CHECK(*config == Config{});
  CHECK(config->server.grpc_address == "0.0.0.0:50051");
}

TEST_CASE("config: config/default.yaml equals the built-in defaults", "[config]") {
  const std::string path = std::string(TF_SOURCE_DIR) + "/config/default.yaml";
  absl::StatusOr<Config> config = LoadConfigFile(path);
  REQUIRE(config.ok());
  Config expected;
  expected.models = config->models;  // the default models are the file's own business
  CHECK(*config == expected);
  REQUIRE(config->models.size() == 2);
  CHECK(config->models[0].name == "all-minilm-l6-v2");
  CHECK(config->models[1].name == "smollm2-135m-instruct");
}

TEST_CASE("config: the fine_tuning section", "[config]") {
  absl::StatusOr<Config> config = ParseConfig(R"(
fine_tuning:
  enabled: false
  data_dir: /var/lib/tf/ft
  max_file_bytes: 1048576
  max_running_jobs: 2
  max_queued_jobs: 8
  train_threads: 3
)",
                                              "ft.yaml");
  REQUIRE(config.ok());
  CHECK_FALSE(config->fine_tuning.enabled);
  CHECK(config->fine_tuning.data_dir == "/var/lib/tf/ft");
  CHECK(config->fine_tuning.max_file_bytes == 1048576);
  CHECK(config->fine_tuning.max_running_jobs == 2);
  CHECK(config->fine_tuning.max_queued_jobs == 8);
  CHECK(config->fine_tuning.train_threads == 3);
  CHECK(ResolvedFineTuningDir(*config) == "/var/lib/tf/ft");

  Config defaults;
  CHECK(defaults.fine_tuning.enabled);
  CHECK(defaults.fine_tuning.max_file_bytes == 512 * 1024 * 1024);
  CHECK(defaults.fine_tuning.max_running_jobs == 1);
  CHECK(defaults.fine_tuning.train_threads == 0);
  defaults.model_dir = "/models";
  CHECK(ResolvedFineTuningDir(defaults) == "/models/fine-tuning");

  CHECK_THAT(ErrorOf("fine_tuning:\n  max_running_jobs: 0\n"),
             Catch::Contains("fine_tuning.max_running_jobs: must be between 1 and 64"));
  CHECK_THAT(ErrorOf("fine_tuning:\n  max_file_bytes: 0\n"),
             Catch::Contains("fine_tuning.max_file_bytes"));
  CHECK_THAT(ErrorOf("fine_tuning:\n  enabled: maybe\n"),
             Catch::Contains("fine_tuning.enabled: expected true or false"));
  CHECK_THAT(ErrorOf("fine_tuning:\n  max_running_jobs: 4\n  max_queued_jobs: 2\n"),
             Catch::Contains("fine_tuning.max_queued_jobs: must be at least"));
  CHECK_THAT(ErrorOf("fine_tuning:\n  workers: 2\n"), Catch::Contains("unknown key"));
}

TEST_CASE("config: model_dir falls back to TRUSTFORMERS_HOME", "[config]") {
  // Other tests read these variables: put them back afterwards.
  const char* saved_home = std::getenv("HOME");
  const char* saved_tf_home = std::getenv("TRUSTFORMERS_HOME");
  const std::string home = saved_home != nullptr ? saved_home : "";
  const std::optional<std::string> tf_home =
      saved_tf_home != nullptr ? std::optional<std::string>(saved_tf_home) : std::nullopt;

  Config config;
  config.models.push_back({"m", "rel/model", "cpu"});
  setenv("TRUSTFORMERS_HOME", "/srv/tf-models", 1);
  CHECK(ResolvedModelPath(config, config.models[0]) == "/srv/tf-models/rel/model");
  unsetenv("TRUSTFORMERS_HOME");
  setenv("HOME", "/home/someone", 1);
  CHECK(ResolvedModelDir(config) == "/home/someone/.cache/trustformers/models");

  setenv("HOME", home.c_str(), 1);
  if (tf_home.has_value()) setenv("TRUSTFORMERS_HOME", tf_home->c_str(), 1);
}

TEST_CASE("config: unknown keys are named with their line", "[config]") {
  const std::string error = ErrorOf("server:\n  grpc_adress: 0.0.0.0:1\n");
  CHECK(error.find("test.yaml:2:3") != std::string::npos);
  CHECK(error.find("server.grpc_adress") != std::string::npos);
  CHECK(error.find("unknown key") != std::string::npos);
  CHECK(error.find("grpc_address") != std::string::npos);  // suggests the known keys

  const std::string top = ErrorOf("logging: {}\nmodles: []\n");
  CHECK(top.find("test.yaml:2:1: modles: unknown key") != std::string::npos);

  const std::string nested = ErrorOf("models:\n  - name: a\n    path: p\n    gpu: 1\n");
  CHECK(nested.find("test.yaml:4:5: models[0].gpu: unknown key") != std::string::npos);
}

TEST_CASE("config: wrong types are named with their line", "[config]") {
  CHECK(ErrorOf("server:\n  max_receive_message_bytes: lots\n")
            .find("test.yaml:2:30: server.max_receive_message_bytes: expected an integer, got "
                  "'lots'") != std::string::npos);
  CHECK(ErrorOf("server:\n  shutdown_grace_period_s: [1]\n")
            .find("server.shutdown_grace_period_s: expected a number, got a list") !=
        std::string::npos);
  CHECK(ErrorOf("server: 5\n").find("test.yaml:1:9: server: expected a mapping, got '5'") !=
        std::string::npos);
  CHECK(ErrorOf("models:\n  name: a\n").find("models: expected a list, got a mapping") !=
        std::string::npos);
  CHECK(ErrorOf("logging:\n  level:\n    - info\n")
            .find("logging.level: expected a string, got a list") != std::string::npos);
  CHECK(ErrorOf("- a\n- b\n").find("<top level>: expected a mapping") != std::string::npos);
}

TEST_CASE("config: invalid values are refused with the reason", "[config]") {
  CHECK(ErrorOf("server:\n  grpc_address: localhost\n").find("is not host:port") !=
        std::string::npos);
  CHECK(ErrorOf("server:\n  grpc_address: 0.0.0.0:70000\n")
            .find("port must be a number from 0 to 65535") != std::string::npos);
  CHECK(ErrorOf("server:\n  shutdown_grace_period_s: -1\n")
            .find("must be between 0 and 3600, got -1") != std::string::npos);
  CHECK(ErrorOf("server:\n  max_receive_message_bytes: 10\n").find("must be between 1024") !=
        std::string::npos);
  CHECK(ErrorOf("logging:\n  level: verbose\n").find("unknown log level 'verbose'") !=
        std::string::npos);
  CHECK(ErrorOf("logging:\n  format: xml\n").find("unknown log format 'xml'") != std::string::npos);
  CHECK(ErrorOf("models:\n  - name: 'bad name'\n    path: p\n")
            .find("may contain only letters, digits") != std::string::npos);
  CHECK(ErrorOf("models:\n  - name: a\n    path: p\n    device: tpu\n")
            .find("unknown device 'tpu'") != std::string::npos);
  CHECK(ErrorOf("models:\n  - path: p\n").find("models[0]: 'name' is required") !=
        std::string::npos);
  CHECK(ErrorOf("models:\n  - name: a\n").find("models[0]: 'path' is required") !=
        std::string::npos);
}

TEST_CASE("config: the gateway, auth, TLS, engine and limits sections", "[config]") {
  absl::StatusOr<Config> config = ParseConfig(R"(
http:
  address: 127.0.0.1:9000
  io_threads: 4
  max_body_bytes: 4096
  idle_timeout_s: 5
auth:
  api_keys_file: /etc/keys
  open_health_and_metrics: false
tls:
  cert_file: /c.pem
  key_file: /k.pem
engine:
  kv_cache_mib: 64
  max_running_sequences: 8
  max_batch_tokens: 128
  prefix_caching: false
  weights_in_memory: false
limits:
  max_choices: 2
  max_new_tokens: 100
)",
                                              "gateway.yaml");
  REQUIRE(config.ok());
  CHECK(config->http.address == "127.0.0.1:9000");
  CHECK(config->http.io_threads == 4);
  CHECK(config->http.max_body_bytes == 4096);
  CHECK(config->http.idle_timeout_s == 5.0);
  CHECK(config->auth.api_keys_file == "/etc/keys");
  CHECK(!config->auth.open_health_and_metrics);
  CHECK(config->tls.enabled());
  CHECK(config->engine.kv_cache_mib == 64);
  CHECK(config->engine.max_running_sequences == 8);
  CHECK(!config->engine.prefix_caching);
  CHECK(!config->engine.weights_in_memory);
  CHECK(config->limits.max_choices == 2);
  CHECK(config->limits.max_new_tokens == 100);

  CHECK(ErrorOf("http:\n  address: nowhere\n").find("http.address") != std::string::npos);
  CHECK(ErrorOf("tls:\n  cert_file: /c.pem\n").find("set together") != std::string::npos);
  CHECK(ErrorOf("tls:\n  client_ca_file: /ca.pem\n").find("need TLS") != std::string::npos);
  CHECK(ErrorOf("auth:\n  open_health_and_metrics: maybe\n").find("expected true or false") !=
        std::string::npos);
  CHECK(ErrorOf("engine:\n  max_running_sequences: 100\n  max_batch_tokens: 50\n")
            .find("must be at least engine.max_running_sequences (100)") != std::string::npos);
  CHECK(ErrorOf("limits:\n  max_choices: 17\n").find("between 1 and 16") != std::string::npos);
}

TEST_CASE("config: duplicate keys and model names are refused", "[config]") {
  CHECK(ErrorOf("server:\n  grpc_address: 0.0.0.0:1\n  grpc_address: 0.0.0.0:2\n")
            .find("test.yaml:3:3: server.grpc_address: key appears twice") != std::string::npos);
  CHECK(ErrorOf("models:\n  - name: a\n    path: p\n  - name: a\n    path: q\n")
            .find("test.yaml:4:11: models[1].name: model name 'a' is already used on line 2") !=
        std::string::npos);
}

TEST_CASE("config: broken YAML names its position", "[config]") {
  const std::string error = ErrorOf("server:\n  grpc_address: [unclosed\n");
  CHECK(error.find("test.yaml:") != std::string::npos);
  CHECK(error.find("<yaml>") != std::string::npos);
}

TEST_CASE("config: a missing file is NOT_FOUND", "[config]") {
  absl::StatusOr<Config> config = LoadConfigFile("/nonexistent/trustformers.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kNotFound);
  CHECK(config.status().message().find("/nonexistent/trustformers.yaml") != std::string::npos);
}

TEST_CASE("config: ValidateConfig checks configs built in code", "[config]") {
  Config config;
  config.models = {{"a", "p", "cpu"}, {"a", "q", "cpu"}};
  absl::Status status = ValidateConfig(config, "code");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message() == "code: models[1].name: model name 'a' is used twice");
  config.models.pop_back();
  CHECK(ValidateConfig(config, "code").ok());
}

}  // namespace
}  // namespace trustformers::config
