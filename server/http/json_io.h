// Reading JSON request bodies and writing JSON responses and errors for the gateway's routes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"
#include "nlohmann/json.hpp"
#include "server/http/http_exchange.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::http {

// The body as JSON; INVALID_ARGUMENT naming the line, column and byte of a syntax error.
absl::StatusOr<nlohmann::json> ParseJsonBody(std::string_view body);

// The body, in protobuf's JSON mapping (lowerCamelCase or proto field names), into `message`.
// Unknown fields are an error, so a misspelt option is not silently ignored.
absl::Status ParseProtoJson(std::string_view body, google::protobuf::Message* message);

// `message` in protobuf's JSON mapping with the proto's own (snake_case) field names and fields
// at their default values included.
std::string ProtoToJson(const google::protobuf::Message& message);

absl::Status FromGrpcStatus(const grpc::Status& status);

void RespondJson(HttpExchange& exchange, int status, std::string body, HeaderList headers = {});
// An error response in OpenAI's shape; 429 and 503 carry Retry-After.
void RespondApiError(HttpExchange& exchange, const openai::ApiError& error);
// The same for a status, with the mapped HTTP status.
void RespondError(HttpExchange& exchange, const absl::Status& status,
                  std::optional<std::string> param = std::nullopt);

}  // namespace trustformers::server::http
