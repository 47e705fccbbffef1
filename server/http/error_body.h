// The JSON error body every gateway route answers with, in the OpenAI API's shape, so one client
// error handler covers the OpenAI routes, the JSON mirror and the gateway's own refusals:
//   {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace trustformers::server::http {

// OpenAI's error `type` for an HTTP status (invalid_request_error, authentication_error, ...).
std::string_view ErrorTypeForHttpStatus(int http_status);

std::string ErrorBodyJson(int http_status, std::string_view message,
                          std::optional<std::string_view> param = std::nullopt,
                          std::optional<std::string_view> code = std::nullopt);

// HTTP status and body for an engine or gRPC status (mapped by server/status_mapping).
struct HttpError {
  int status = 500;
  std::string body;
};
HttpError HttpErrorFor(const absl::Status& status,
                       std::optional<std::string_view> param = std::nullopt);

}  // namespace trustformers::server::http
