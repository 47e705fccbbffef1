// The JSON mirror of the gRPC API under /v1/trustformers/: each route takes the request message in
// protobuf's JSON mapping and answers with the response message, so anything a gRPC client can do
// a curl user can do. Generate answers with server-sent events, one GenerateResponse per event.
#pragma once

#include "server/http/grpc_bridge.h"
#include "server/http/router.h"

namespace trustformers::server::http {

// `bridge` must outlive the router.
void AddMirrorRoutes(Router& router, GrpcBridge* bridge);

}  // namespace trustformers::server::http
