// Errors of the OpenAI-compatible gateway in the shape the `openai` SDKs read:
// {"error": {"message", "type", "param", "code"}} with an HTTP status. Request parsers report a
// bad field as an absl::Status that carries the field's name (`param`) and an OpenAI error code
// as payloads, so parsing keeps the codebase's StatusOr signatures and the name cannot get lost
// on the way to ApiErrorFromStatus.
//
// HTTP status: HttpStatusFor (server/status_mapping), the one mapping of the server. `type`
// follows the HTTP status:
//   400, 409, 499 and other 4xx -> "invalid_request_error"
//   401 -> "authentication_error"     403 -> "permission_error"
//   404 -> "not_found_error"          429 -> "rate_limit_error"
//   5xx -> "server_error"
// `code`: the one the status carries (ParamError), else "model_not_found" for NOT_FOUND (every
// NOT_FOUND of Generate, Embed and the Models service is an unknown model),
// "rate_limit_exceeded" for RESOURCE_EXHAUSTED, "invalid_api_key" for UNAUTHENTICATED, else null.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace trustformers::server::openai {

struct ApiError {
  int http_status = 500;
  std::string message;
  std::string type;
  std::string code;  // empty: null in the body
  std::optional<std::string> param;
};

// {"error": {"message", "type", "param" (or null), "code" (or null)}}: the body of an error
// response, and the data of the SSE event that reports an error in the middle of a stream.
nlohmann::json ErrorBody(const ApiError& error);

// OpenAI's error `type` for an HTTP status, as in the table above.
std::string ErrorTypeFor(int http_status);

// Error codes the parsers attach (OpenAI's own codes for the same situations).
inline constexpr char kInvalidType[] = "invalid_type";
inline constexpr char kInvalidValue[] = "invalid_value";
inline constexpr char kMissingParameter[] = "missing_required_parameter";
inline constexpr char kUnsupportedParameter[] = "unsupported_parameter";
inline constexpr char kUnsupportedValue[] = "unsupported_value";

// An INVALID_ARGUMENT status naming the request field `param` (e.g. "messages[2].content") and
// carrying `code` (may be empty).
absl::Status ParamError(absl::string_view param, absl::string_view code, absl::string_view message);

// The field a status names, if ParamError made it.
std::optional<std::string> ParamOf(const absl::Status& status);

// The error response for a non-OK `status`, with the mapping above. `param`, when given,
// replaces the one the status carries.
ApiError ApiErrorFromStatus(const absl::Status& status,
                            std::optional<std::string> param = std::nullopt);

}  // namespace trustformers::server::openai
