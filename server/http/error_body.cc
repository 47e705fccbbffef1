#include "server/http/error_body.h"

#include "server/http/openai/json_output.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::http {

std::string ErrorBodyJson(int http_status, std::string_view message) {
  openai::ApiError error;
  error.http_status = http_status;
  error.message = std::string(message);
  error.type = openai::ErrorTypeFor(http_status);
  return openai::DumpJson(openai::ErrorBody(error));
}

HttpError HttpErrorFor(const absl::Status& status, std::optional<std::string> param) {
  openai::ApiError error = openai::ApiErrorFromStatus(status, std::move(param));
  return {error.http_status, openai::DumpJson(openai::ErrorBody(error))};
}

}  // namespace trustformers::server::http
