#include "server/http/json_io.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/http/error_body.h"
#include "server/http/openai/json_output.h"

namespace trustformers::server::http {

absl::StatusOr<nlohmann::json> ParseJsonBody(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("the request body is empty; send JSON");
  try {
    return nlohmann::json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message already carries the line and column.
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON at byte ", e.byte, ": ", e.what()));
  }
}

absl::Status ParseProtoJson(std::string_view body, google::protobuf::Message* message) {
  absl::StatusOr<nlohmann::json> json = ParseJsonBody(body);
  if (!json.ok()) return json.status();
  if (!json->is_object()) {
    return absl::InvalidArgumentError("the request body must be a JSON object");
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the body does not match ",
                                                   message->GetDescriptor()->full_name(), ": ",
                                                   std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    // Only invalid UTF-8 in a string field gets here; the error says so instead of a half body.
    return ErrorBodyJson(500, "the response holds text that is not valid UTF-8");
  }
  return out;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

void RespondJson(HttpExchange& exchange, int status, std::string body, HeaderList headers) {
  exchange.Respond(status, "application/json", std::move(body), std::move(headers));
}

void RespondApiError(HttpExchange& exchange, const openai::ApiError& error) {
  HeaderList headers;
  if (error.http_status == 429 || error.http_status == 503)
    headers.emplace_back("Retry-After", "1");
  RespondJson(exchange, error.http_status, openai::DumpJson(openai::ErrorBody(error)),
              std::move(headers));
}

void RespondError(HttpExchange& exchange, const absl::Status& status,
                  std::optional<std::string> param) {
  RespondApiError(exchange, openai::ApiErrorFromStatus(status, std::move(param)));
}

}  // namespace trustformers::server::http
