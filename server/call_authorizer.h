// API-key checks shared by the gRPC services: the key travels as `authorization` metadata
// ("Bearer KEY"), the same header value the REST gateway reads.
#pragma once

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"

namespace trustformers::server {

// Checks an Authorization value; OK or UNAUTHENTICATED. Empty when no API keys are configured.
using Authorizer = std::function<absl::Status(std::string_view authorization)>;

inline absl::Status AuthorizeCall(const Authorizer& authorizer,
                                  const grpc::CallbackServerContext* context) {
  if (!authorizer) return absl::OkStatus();
  const auto& metadata = context->client_metadata();
  auto found = metadata.find("authorization");
  if (found == metadata.end()) return authorizer({});
  return authorizer(std::string_view(found->second.data(), found->second.size()));
}

}  // namespace trustformers::server
