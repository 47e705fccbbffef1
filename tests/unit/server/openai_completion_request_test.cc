#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "server/http/openai/completion_request.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;
using P = std::pair<std::string, std::string>;

json Body(const std::string& extra) {
  json body = json::parse(R"({"model": "m", "prompt": "Once upon a time"})");
  body.update(json::parse(extra));
  return body;
}

CompletionRequest Parse(const std::string& extra) {
  absl::StatusOr<CompletionRequest> request = ParseCompletionRequest(Body(extra));
  INFO(request.status().ToString());
  REQUIRE(request.ok());
  return *std::move(request);
}

P ErrorOfBody(const json& body) {
  absl::StatusOr<CompletionRequest> request = ParseCompletionRequest(body);
  REQUIRE_FALSE(request.ok());
  const ApiError error = ApiErrorFromStatus(request.status());
  CHECK(error.http_status == 400);
  return {error.param.value_or("<none>"), error.code};
}
P ErrorOf(const std::string& extra) { return ErrorOfBody(Body(extra)); }

std::vector<int32_t> Ids(const v1::GenerateRequest& request) {
  return {request.prompt_token_ids().ids().begin(), request.prompt_token_ids().ids().end()};
}

TEST_CASE("openai completion request: a string prompt and the defaults", "[openai]") {
  const CompletionRequest r = Parse("{}");
  REQUIRE(r.generates.size() == 1);
  const v1::GenerateRequest& g = r.generates[0];
  CHECK(g.model() == "m");
  CHECK(g.prompt() == "Once upon a time");
  CHECK(g.include_usage());
  CHECK(g.sampling().max_tokens() == kDefaultCompletionMaxTokens);  // OpenAI's 16
  CHECK_FALSE(g.sampling().has_logprobs());
  CHECK_FALSE(g.sampling().echo_prompt());
  CHECK_FALSE(r.logprobs.has_value());
  CHECK_FALSE(r.echo);
  CHECK(r.n == 1);
  CHECK_FALSE(r.flags.stream);
}

TEST_CASE("openai completion request: the four prompt forms", "[openai]") {
  CompletionRequest r = Parse(R"({"prompt": ["a", "b", "c"]})");
  REQUIRE(r.generates.size() == 3);
  CHECK(r.generates[0].prompt() == "a");
  CHECK(r.generates[2].prompt() == "c");

  r = Parse(R"({"prompt": [1, 2, 3]})");
  REQUIRE(r.generates.size() == 1);
  CHECK(r.generates[0].has_prompt_token_ids());
  CHECK(Ids(r.generates[0]) == std::vector<int32_t>{1, 2, 3});

  r = Parse(R"({"prompt": [[1, 2], [3], [4, 5, 6]], "n": 2, "temperature": 0.5})");
  REQUIRE(r.generates.size() == 3);
  CHECK(Ids(r.generates[0]) == std::vector<int32_t>{1, 2});
  CHECK(Ids(r.generates[1]) == std::vector<int32_t>{3});
  CHECK(Ids(r.generates[2]) == std::vector<int32_t>{4, 5, 6});
  for (const v1::GenerateRequest& g : r.generates) {  // same settings for every prompt
    CHECK(g.model() == "m");
    CHECK(g.sampling().n() == 2);
    CHECK(g.sampling().temperature() == 0.5f);
  }
  CHECK(r.n == 2);
}

TEST_CASE("openai completion request: fields", "[openai]") {
  const CompletionRequest r = Parse(R"({"max_tokens": 0, "echo": true, "logprobs": 5,
      "stream": true, "stream_options": {"include_usage": true}, "stop": "\n", "seed": 3,
      "suffix": "", "best_of": 2, "n": 2, "user": "x", "top_k": 5, "add_special_tokens": false,
      "stop_token_ids": [7]})");
  const v1::GenerateRequest& g = r.generates[0];
  CHECK(g.sampling().max_tokens() == 0);
  CHECK(g.sampling().echo_prompt());
  CHECK(r.echo);
  CHECK(r.logprobs == 5);
  CHECK(g.sampling().logprobs() == 5);
  CHECK(r.flags.stream);
  CHECK(r.flags.include_usage);
  CHECK(g.sampling().stop(0) == "\n");
  CHECK(g.sampling().seed() == 3);
  CHECK(g.sampling().top_k() == 5);
  CHECK(g.sampling().stop_token_ids(0) == 7);
  CHECK(g.has_add_special_tokens());
  CHECK_FALSE(g.add_special_tokens());
  CHECK(Parse(R"({"logprobs": 0})").logprobs == 0);
  CHECK(Parse(R"({"suffix": null, "best_of": null, "logprobs": null})").generates.size() == 1);
}

TEST_CASE("openai completion request: errors name the field", "[openai]") {
  CHECK(ErrorOfBody(json::parse(R"({"model": "m"})")) == P{"prompt", "missing_required_parameter"});
  CHECK(ErrorOfBody(json::parse(R"({"prompt": "x"})")) == P{"model", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"prompt": ""})") == P{"prompt", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": []})") == P{"prompt", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": 5})") == P{"prompt", "invalid_type"});
  CHECK(ErrorOf(R"({"prompt": {"text": "x"}})") == P{"prompt", "invalid_type"});
  CHECK(ErrorOf(R"({"prompt": ["a", ""]})") == P{"prompt[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": ["a", 1]})") == P{"prompt[1]", "invalid_type"});
  CHECK(ErrorOf(R"({"prompt": [1, -5]})") == P{"prompt[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": [[1], []]})") == P{"prompt[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": [[1], "a"]})") == P{"prompt[1]", "invalid_type"});
  CHECK(ErrorOf(R"({"prompt": [[1], [2, "x"]]})") == P{"prompt[1][1]", "invalid_type"});
  CHECK(ErrorOf(R"({"prompt": [[1, 2147483648]]})") == P{"prompt[0][1]", "invalid_value"});
  CHECK(ErrorOf(R"({"logprobs": 6})") == P{"logprobs", "invalid_value"});
  CHECK(ErrorOf(R"({"logprobs": true})") == P{"logprobs", "invalid_type"});
  CHECK(ErrorOf(R"({"max_tokens": -1})") == P{"max_tokens", "invalid_value"});
  CHECK(ErrorOf(R"({"suffix": "end"})") == P{"suffix", "unsupported_parameter"});
  CHECK(ErrorOf(R"({"suffix": 1})") == P{"suffix", "invalid_type"});
  CHECK(ErrorOf(R"({"best_of": 3, "n": 2})") == P{"best_of", "unsupported_value"});
  CHECK(ErrorOf(R"({"best_of": 2})") == P{"best_of", "unsupported_value"});
  CHECK(ErrorOf(R"({"echo": 1})") == P{"echo", "invalid_type"});
  CHECK(ErrorOf(R"({"temperature": -1})") == P{"temperature", "invalid_value"});
  CHECK(ErrorOf(R"({"prompt": [1, 2], "add_special_tokens": true})") ==
        P{"add_special_tokens", "invalid_value"});
  CHECK(ParseCompletionRequest(json::parse("\"text\"")).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::server::openai
