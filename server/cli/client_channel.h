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
  std::string server = "localhost:50051";
  double timeout_s = 60.0;
};

// Adds --server and --timeout to `cmd`.
void AddClientOptions(CLI::App* cmd, ClientOptions* options);

std::shared_ptr<grpc::Channel> OpenChannel(const ClientOptions& options);

// A context whose deadline is --timeout from now.
std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& options);

// Prints `message` to stdout in protobuf's JSON mapping; returns 0.
int PrintJson(const google::protobuf::Message& message);

// Prints "trustformers: <what>: <CODE>: <message>" to stderr; returns 0 for OK, else 1.
int ReportCall(const grpc::Status& status, const std::string& what);

}  // namespace trustformers::cli
