#include "server/http/openai/openai_error.h"

#include <cmath>
#include <limits>

#include "catch2/catch.hpp"
#include "server/http/openai/json_fields.h"
#include "server/http/openai/json_output.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;

TEST_CASE("openai error: body shape with and without param and code", "[openai]") {
  ApiError error{.http_status = 400,
                 .message = "bad temperature",
                 .type = "invalid_request_error",
                 .code = "invalid_value",
                 .param = "temperature"};
  CHECK(ErrorBody(error) == json::parse(R"({"error": {"message": "bad temperature",
      "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}})"));
  error.code.clear();
  error.param.reset();
  const json body = ErrorBody(error);
  CHECK(body["error"]["param"].is_null());
  CHECK(body["error"]["code"].is_null());
  CHECK(body["error"].size() == 4);
}

TEST_CASE("openai error: ParamError carries param and code to ApiErrorFromStatus", "[openai]") {
  const absl::Status status = ParamError("messages[2].content", kInvalidType, "wrong type");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message() == "wrong type");
  CHECK(ParamOf(status) == "messages[2].content");
  const ApiError error = ApiErrorFromStatus(status);
  CHECK(error.http_status == 400);
  CHECK(error.type == "invalid_request_error");
  CHECK(error.code == "invalid_type");
  CHECK(error.param == "messages[2].content");
  CHECK(error.message == "wrong type");
  // An explicit param wins over the carried one.
  CHECK(ApiErrorFromStatus(status, "other").param == "other");
  CHECK_FALSE(ParamOf(absl::InvalidArgumentError("x")).has_value());
}

TEST_CASE("openai error: status codes map to HTTP status, type and code", "[openai]") {
  struct Case {
    absl::Status status;
    int http;
    const char* type;
    const char* code;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("m"), 400, "invalid_request_error", ""},
      {absl::FailedPreconditionError("m"), 422, "invalid_request_error", ""},
      {absl::OutOfRangeError("m"), 400, "invalid_request_error", ""},
      {absl::UnauthenticatedError("m"), 401, "authentication_error", "invalid_api_key"},
      {absl::PermissionDeniedError("m"), 403, "permission_error", ""},
      {absl::NotFoundError("m"), 404, "not_found_error", "model_not_found"},
      {absl::AlreadyExistsError("m"), 409, "invalid_request_error", ""},
      {absl::ResourceExhaustedError("m"), 429, "rate_limit_error", "rate_limit_exceeded"},
      {absl::CancelledError("m"), 499, "invalid_request_error", ""},
      {absl::InternalError("m"), 500, "server_error", ""},
      {absl::UnknownError("m"), 500, "server_error", ""},
      {absl::UnimplementedError("m"), 501, "server_error", ""},
      {absl::UnavailableError("m"), 503, "server_error", ""},
      {absl::DeadlineExceededError("m"), 504, "server_error", ""},
  };
  for (const Case& c : cases) {
    INFO(c.status.ToString());
    const ApiError error = ApiErrorFromStatus(c.status);
    CHECK(error.http_status == c.http);
    CHECK(error.type == c.type);
    CHECK(error.code == c.code);
    CHECK(error.message == "m");
    CHECK_FALSE(error.param.has_value());
  }
  // A status without a message still tells the client something.
  CHECK(ApiErrorFromStatus(absl::Status(absl::StatusCode::kInternal, "")).message == "INTERNAL");
}

TEST_CASE("openai json: floats print in their shortest float32 form", "[openai]") {
  CHECK(DumpJson(FloatForJson(0.1f)) == "0.1");
  CHECK(DumpJson(FloatForJson(-1.25f)) == "-1.25");
  CHECK(DumpJson(FloatForJson(1.0f)) == "1.0");
  CHECK(DumpJson(FloatForJson(3.4028235e38f)) == "3.4028235e+38");
  CHECK(DumpJson(FloatForJson(1e-45f)) == "1e-45");
  CHECK(FloatForJson(std::nanf("")).is_null());
  CHECK(FloatForJson(std::numeric_limits<float>::infinity()).is_null());
  CHECK(DumpJson(LogprobForJson(-std::numeric_limits<float>::infinity())) == "-9999.0");
  CHECK(DumpJson(LogprobForJson(-0.3f)) == "-0.3");
  // Every printed value reads back as the same float, bit for bit.
  for (float f : {0.1f, 0.2f, 1.0f / 3.0f, -2.7182817f, 123456.79f, 1.17549435e-38f}) {
    const std::string text = DumpJson(FloatForJson(f));
    CHECK(std::strtof(text.c_str(), nullptr) == f);
  }
}

TEST_CASE("openai json: DumpJson never throws on invalid UTF-8", "[openai]") {
  CHECK(DumpJson(json(std::string("a\xff"
                                  "b"))) ==
        "\"a\xEF\xBF\xBD"
        "b\"");
  CHECK(DumpJson(json{{"k", "é"}}) == "{\"k\":\"é\"}");
}

TEST_CASE("openai json fields: types, ranges, null as unset, first error kept", "[openai]") {
  const json body = json::parse(R"({"b": true, "i": 5, "f": 0.5, "s": "x", "n": null,
      "fi": 3.0, "big": 1e30, "neg": -1, "half": 2.5, "str_num": "1"})");
  FieldReader reader(body);
  CHECK(reader.Bool("b") == true);
  CHECK(reader.Int("i", 0, 10) == 5);
  CHECK(reader.Int("fi", 0, 10) == 3);  // an integral float is an integer
  CHECK(reader.Float("f", 0, 1) == 0.5f);
  CHECK(reader.Float("i", 0, 10) == 5.0f);
  CHECK(reader.String("s") == "x");
  CHECK_FALSE(reader.Bool("n").has_value());
  CHECK_FALSE(reader.Bool("absent").has_value());
  CHECK(reader.ok());

  auto first_error = [&](auto read) {
    FieldReader r(body, "outer.");
    read(r);
    CHECK_FALSE(r.ok());
    return r.status();
  };
  absl::Status s = first_error([](FieldReader& r) { r.Bool("s"); });
  CHECK(ParamOf(s) == "outer.s");
  CHECK(s.message() == "'outer.s' must be a boolean, got a string");
  s = first_error([](FieldReader& r) { r.Int("half", 0, 10); });
  CHECK(ParamOf(s) == "outer.half");
  CHECK(s.message() == "'outer.half' must be an integer in [0, 10], got 2.5");
  s = first_error([](FieldReader& r) { r.Int("big", 0, 10); });
  CHECK(ParamOf(s) == "outer.big");
  s = first_error([](FieldReader& r) { r.Int("str_num", 0, 10); });
  CHECK(s.message() == "'outer.str_num' must be an integer, got a string");
  s = first_error([](FieldReader& r) { r.Float("i", 0, 2); });
  CHECK(s.message() == "'outer.i' must be in [0, 2], got 5");
  s = first_error([](FieldReader& r) { r.Float("f", 0.5f, 1, /*min_exclusive=*/true); });
  CHECK(s.message() == "'outer.f' must be in (0.5, 1], got 0.5");
  s = first_error([](FieldReader& r) { r.String("i"); });
  CHECK(s.message() == "'outer.i' must be a string, got an integer");
  s = first_error([](FieldReader& r) { r.Require("n"); });
  CHECK(ParamOf(s) == "outer.n");
  CHECK(ApiErrorFromStatus(s).code == "missing_required_parameter");
  // After the first error every read is unset and the first error stays.
  s = first_error([](FieldReader& r) {
    r.Int("neg", 0, 10);
    CHECK_FALSE(r.Bool("b").has_value());
    r.Bool("s");
  });
  CHECK(ParamOf(s) == "outer.neg");
}

TEST_CASE("openai json fields: token id arrays", "[openai]") {
  std::vector<int32_t> ids;
  CHECK(JsonToTokenIds(json::parse("[1, 2, 3]"), "p", &ids).ok());
  CHECK(ids == std::vector<int32_t>{1, 2, 3});
  CHECK(ParamOf(JsonToTokenIds(json::parse("[]"), "p", &ids)) == "p");
  CHECK(ParamOf(JsonToTokenIds(json::parse("[1, -2]"), "p", &ids)) == "p[1]");
  CHECK(ParamOf(JsonToTokenIds(json::parse("[1, 2147483648]"), "p", &ids)) == "p[1]");
  CHECK(ParamOf(JsonToTokenIds(json::parse(R"([1, "a"])"), "p", &ids)) == "p[1]");
  CHECK(ParamOf(JsonToTokenIds(json::parse("3"), "p", &ids)) == "p");
  CHECK(IsIntegerArray(json::parse("[1, 2]")));
  CHECK_FALSE(IsIntegerArray(json::parse("[1, 2.5]")));
  CHECK_FALSE(IsIntegerArray(json::parse(R"(["a"])")));
}

}  // namespace
}  // namespace trustformers::server::openai
