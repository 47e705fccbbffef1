// The one place where an engine or model error becomes a wire status: the gRPC status code for the
// gRPC front end and the HTTP status for the REST gateway. Messages pass through unchanged, since
// they are written for the user.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace trustformers::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Ends a unary callback RPC with `status` mapped as above; returns the reactor to hand to gRPC.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status);

// The HTTP status a REST response carries for `code` (499 for CANCELLED, as clients that left).
int HttpStatusFor(absl::StatusCode code);

}  // namespace trustformers::server
