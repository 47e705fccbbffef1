#include "server/http/error_body.h"

#include "nlohmann/json.hpp"
#include "server/status_mapping.h"

namespace trustformers::server::http {

std::string_view ErrorTypeForHttpStatus(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 499:
      return "cancelled";
    default:
      return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string ErrorBodyJson(int http_status, std::string_view message,
                          std::optional<std::string_view> param,
                          std::optional<std::string_view> code) {
  nlohmann::json error = {{"message", message},
                          {"type", ErrorTypeForHttpStatus(http_status)},
                          {"param", nullptr},
                          {"code", nullptr}};
  if (param) error["param"] = *param;
  if (code) error["code"] = *code;
  // Replacement characters keep a message quoting broken UTF-8 input serialisable.
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
}

HttpError HttpErrorFor(const absl::Status& status, std::optional<std::string_view> param) {
  const int http_status = HttpStatusFor(status.code());
  std::optional<std::string_view> code;
  if (status.code() == absl::StatusCode::kNotFound) code = "not_found";
  return {http_status, ErrorBodyJson(http_status, std::string(status.message()), param, code)};
}

}  // namespace trustformers::server::http
