// The JSON error body every gateway route answers with, in the OpenAI API's shape (see
// server/http/openai/openai_error.h), so one client error handler covers the OpenAI routes, the
// JSON mirror and the gateway's own refusals.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace trustformers::server::http {

// A refusal of the gateway itself (404, 405, 413, ...), which has no status to map.
std::string ErrorBodyJson(int http_status, std::string_view message);

// HTTP status and body for an engine, parser or gRPC status.
struct HttpError {
  int status = 500;
  std::string body;
};
HttpError HttpErrorFor(const absl::Status& status, std::optional<std::string> param = std::nullopt);

}  // namespace trustformers::server::http
