// What every client subcommand shares: the --server option, a channel to it, printing a response
// as JSON, and turning a failed call into a message and exit status 1.
#pragma once

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace trustformers::cli {

struct ClientOptions {
  // Address of a running server; empty runs the model in this process (one-process mode).
  std::string server;
  // One-process mode: the configuration that names the model.
  std::string config_path = "config/default.yaml";
  double timeout_s = 60.0;
};

// Adds --server, --config and --timeout to `cmd`.
void AddClientOptions(CLI::App* cmd, ClientOptions* options);

// A channel to the server, or, in one-process mode, to an in-process server that has loaded
// `model` (all configured models when empty) from the configuration. Null after printing the
// reason when the local model cannot load.
std::shared_ptr<grpc::Channel> OpenChannel(const ClientOptions& options,
                                           const std::string& model = "");

// A context whose deadline is --timeout from now.
std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& options);

// Prints `message` to stdout in protobuf's JSON mapping; returns 0.
int PrintJson(const google::protobuf::Message& message);

// Prints "trustformers: <what>: <CODE>: <message>" to stderr; returns 0 for OK, else 1.
int ReportCall(const grpc::Status& status, const std::string& what);

}  // namespace trustformers::cli
