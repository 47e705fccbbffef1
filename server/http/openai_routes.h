// The OpenAI-compatible routes: /v1/chat/completions, /v1/completions (streamed as server-sent
// events or whole), /v1/embeddings and /v1/models (list, get, delete), so the official SDKs work
// by changing only their base URL. Conversions live in server/http/openai/; these handlers run
// them against the gRPC services through the bridge.
#pragma once

#include "server/http/grpc_bridge.h"
#include "server/http/router.h"

namespace trustformers::server::http {

// `bridge` must outlive the router.
void AddOpenAiRoutes(Router& router, GrpcBridge* bridge);

}  // namespace trustformers::server::http
