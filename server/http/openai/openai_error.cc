#include "server/http/openai/openai_error.h"

#include "absl/strings/cord.h"
#include "server/status_mapping.h"

namespace trustformers::server::openai {
namespace {

// Payload type URLs; only this file reads or writes them.
constexpr char kParamPayload[] = "trustformers.openai/param";
constexpr char kCodePayload[] = "trustformers.openai/code";

std::optional<std::string> Payload(const absl::Status& status, absl::string_view url) {
  const auto value = status.GetPayload(url);  // absl::optional, not std:: on Debian
  if (!value.has_value()) return std::nullopt;
  return std::string(*value);
}

}  // namespace

std::string ErrorTypeFor(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

namespace {

std::string DefaultCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kNotFound:
      return "model_not_found";
    case absl::StatusCode::kResourceExhausted:
      return "rate_limit_exceeded";
    case absl::StatusCode::kUnauthenticated:
      return "invalid_api_key";
    default:
      return "";
  }
}

}  // namespace

nlohmann::json ErrorBody(const ApiError& error) {
  nlohmann::json body = {{"message", error.message}, {"type", error.type}};
  body["param"] = error.param.has_value() ? nlohmann::json(*error.param) : nlohmann::json();
  body["code"] = error.code.empty() ? nlohmann::json() : nlohmann::json(error.code);
  return {{"error", std::move(body)}};
}

absl::Status ParamError(absl::string_view param, absl::string_view code,
                        absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kParamPayload, absl::Cord(param));
  if (!code.empty()) status.SetPayload(kCodePayload, absl::Cord(code));
  return status;
}

std::optional<std::string> ParamOf(const absl::Status& status) {
  return Payload(status, kParamPayload);
}

ApiError ApiErrorFromStatus(const absl::Status& status, std::optional<std::string> param) {
  ApiError error;
  error.http_status = HttpStatusFor(status.code());
  error.message = std::string(status.message());
  if (error.message.empty()) error.message = absl::StatusCodeToString(status.code());
  error.type = ErrorTypeFor(error.http_status);
  error.code = Payload(status, kCodePayload).value_or(DefaultCode(status.code()));
  error.param = param.has_value() ? std::move(param) : ParamOf(status);
  return error;
}

}  // namespace trustformers::server::openai
