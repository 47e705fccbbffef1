#include "server/cli/client_channel.h"

#include <chrono>
#include <iostream>

#include "config/config_loader.h"
#include "engine/model_registry.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/grpc_server.h"

namespace trustformers::cli {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

void AddClientOptions(CLI::App* cmd, ClientOptions* options) {
  cmd->add_option("-s,--server", options->server,
                  "Address of a running trustformers server (default: run the model in this "
                  "process)");
  cmd->add_option("-c,--config", options->config_path,
                  "Configuration naming the models, for one-process mode")
      ->capture_default_str();
  cmd->add_option("--timeout", options->timeout_s, "Deadline for the call, in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

namespace {

// The one-process server: lives until the process exits.
struct LocalServer {
  std::unique_ptr<engine::ModelRegistry> registry;
  std::unique_ptr<server::GrpcServer> server;
};

}  // namespace

std::shared_ptr<grpc::Channel> OpenChannel(const ClientOptions& options, const std::string& model) {
  if (!options.server.empty()) {
    return grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials());
  }
  static LocalServer* local = new LocalServer();
  if (local->server == nullptr) {
    absl::StatusOr<config::Config> config = config::LoadConfigFile(options.config_path);
    if (!config.ok()) {
      std::cerr << "trustformers: " << config.status().message() << "\n";
      return nullptr;
    }
    if (!model.empty()) {
      std::erase_if(config->models, [&](const config::ModelConfig& m) { return m.name != model; });
      if (config->models.empty()) {
        std::cerr << "trustformers: model '" << model << "' is not in " << options.config_path
                  << "\n";
        return nullptr;
      }
    }
    local->registry = std::make_unique<engine::ModelRegistry>(*config);
    if (absl::Status status = local->registry->LoadConfiguredModels(); !status.ok()) {
      std::cerr << "trustformers: " << status.message() << "\n";
      return nullptr;
    }
    absl::StatusOr<std::unique_ptr<server::GrpcServer>> started =
        server::GrpcServer::StartInProcess(local->registry.get());
    if (!started.ok()) {
      std::cerr << "trustformers: " << started.status().message() << "\n";
      return nullptr;
    }
    local->server = *std::move(started);
  }
  return local->server->InProcessChannel();
}

std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& options) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000)));
  return context;
}

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, print);
  std::cout << json;
  return 0;
}

int ReportCall(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return 0;
  std::cerr << "trustformers: " << what << ": " << CodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  return 1;
}

}  // namespace trustformers::cli
