#include "server/grpc_server.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace trustformers::server {
namespace {

constexpr const char* kServiceNames[] = {"trustformers.v1.Inference", "trustformers.v1.Models",
                                         "trustformers.v1.FineTuning"};

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* key) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.", key, ": cannot read '", path, "' (missing, empty or unreadable)"));
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const config::TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadPemFile(tls.cert_file, "cert_file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(tls.key_file, "key_file");
  if (!key.ok()) return key.status();
  pair.cert_chain = *std::move(cert);
  pair.private_key = *std::move(key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> roots = ReadPemFile(tls.client_ca_file, "client_ca_file");
    if (!roots.ok()) return roots.status();
    options.pem_root_certs = *std::move(roots);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace

GrpcServer::GrpcServer(engine::ModelRegistry* registry, Authorizer authorizer,
                       FineTuningBackend fine_tuning)
    : models_service_(registry, authorizer,
                      [manager = fine_tuning.manager](const engine::ModelEntry& entry) {
                        if (manager == nullptr || entry.origin != engine::ModelOrigin::kFineTuned) {
                          return;
                        }
                        if (absl::Status s = manager->ForgetModel(entry.name); !s.ok()) {
                          spdlog::warn("fine-tuning: {}", s.message());
                        }
                      }),
      inference_service_(registry, authorizer),
      fine_tuning_service_(std::move(fine_tuning), authorizer) {}

GrpcServer::~GrpcServer() {
  if (!shut_down_) Shutdown(std::chrono::milliseconds(0));
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const config::Config& full_config,
                                                              engine::ModelRegistry* registry,
                                                              GrpcServerOptions options) {
  const config::ServerConfig& config = full_config.server;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials(full_config.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<GrpcServer> server(
      new GrpcServer(registry, std::move(options.authorizer), std::move(options.fine_tuning)));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.grpc_address, *credentials, &server->port_);
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(full_config.limits.max_concurrent_streams));
  builder.RegisterService(&server->inference_service_);
  builder.RegisterService(&server->models_service_);
  builder.RegisterService(&server->fine_tuning_service_);
  server->server_ = builder.BuildAndStart();
  const bool unix_socket = absl::StartsWith(config.grpc_address, "unix:");
  if (server->server_ == nullptr || (!unix_socket && server->port_ == 0)) {
    server->shut_down_ = true;
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on '", config.grpc_address,
        "': the address is in use, not local to this machine, or needs more privileges; set "
        "server.grpc_address in the config"));
  }
  server->SetServing(false);
  return server;
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::StartInProcess(
    engine::ModelRegistry* registry) {
  std::unique_ptr<GrpcServer> server(new GrpcServer(registry, {}, {}));
  grpc::ServerBuilder builder;
  builder.RegisterService(&server->inference_service_);
  builder.RegisterService(&server->models_service_);
  builder.RegisterService(&server->fine_tuning_service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    server->shut_down_ = true;
    return absl::InternalError("cannot start the in-process gRPC server");
  }
  return server;
}

std::shared_ptr<grpc::Channel> GrpcServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return server_->InProcessChannel(args);
}

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  for (const char* name : kServiceNames) health->SetServingStatus(name, serving);
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  SetServing(false);
  fine_tuning_service_.Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

}  // namespace trustformers::server
