#include "catch2/catch.hpp"
#include "server/http/openai/json_output.h"
#include "server/http/openai/openai_error.h"
#include "server/http/openai/response_aggregator.h"
#include "unit/server/openai_test_messages.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;
using testing::Message;
using testing::Token;
using testing::Unscored;
using testing::WithCreated;
using testing::WithUsage;

void AddAll(ResponseAggregator& aggregator, const std::vector<v1::GenerateResponse>& messages,
            int32_t prompt = 0) {
  for (const v1::GenerateResponse& m : messages) REQUIRE(aggregator.Add(m, prompt).ok());
}

TEST_CASE("openai aggregate: chat n=2 interleaved", "[openai]") {
  ResponseOptions options;
  options.kind = ApiKind::kChat;
  options.n = 2;
  ResponseAggregator aggregator(options);
  AddAll(aggregator, {WithCreated(Message(1, "Bon"), 1700000000), Message(0, "Hel"),
                      Message(0, "lo", v1::FINISH_REASON_STOP_SEQUENCE), Message(1, "jour"),
                      WithUsage(Message(1, "", v1::FINISH_REASON_LENGTH), 12, 6)});
  CHECK(aggregator.done());
  absl::StatusOr<json> body = aggregator.Finish();
  REQUIRE(body.ok());
  CHECK(*body == json::parse(R"({
    "id": "chatcmpl-req-1", "object": "chat.completion", "created": 1700000000, "model": "smol",
    "choices": [
      {"index": 0, "message": {"role": "assistant", "content": "Hello", "refusal": null},
       "logprobs": null, "finish_reason": "stop"},
      {"index": 1, "message": {"role": "assistant", "content": "Bonjour", "refusal": null},
       "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}})"));
}

TEST_CASE("openai aggregate: chat logprobs over all messages, echo left out", "[openai]") {
  ResponseOptions options;
  options.kind = ApiKind::kChat;
  options.logprobs = true;
  ResponseAggregator aggregator(options);
  v1::GenerateResponse echo = Message(0, "Q:", v1::FINISH_REASON_UNSPECIFIED, {Unscored(1, "Q:")});
  echo.set_echo(true);
  AddAll(aggregator,
         {echo, Message(0, "A", v1::FINISH_REASON_UNSPECIFIED, {Token(2, "A", -0.5f)}),
          WithUsage(Message(0, "", v1::FINISH_REASON_STOP, {Token(3, "</s>", -0.01f)}), 2, 2)});
  absl::StatusOr<json> body = aggregator.Finish();
  REQUIRE(body.ok());
  const json& choice = (*body)["choices"][0];
  CHECK(choice["message"]["content"] == "Q:A");
  CHECK(choice["logprobs"] == json::parse(R"({"refusal": null, "content": [
    {"token": "A", "logprob": -0.5, "bytes": [65], "top_logprobs": []},
    {"token": "</s>", "logprob": -0.01, "bytes": [60, 47, 115, 62], "top_logprobs": []}]})"));
  CHECK(DumpJson(choice["logprobs"]["content"][1]["logprob"]) == "-0.01");
}

TEST_CASE("openai aggregate: completions, two prompts, echo and legacy logprobs", "[openai]") {
  ResponseOptions options;
  options.kind = ApiKind::kCompletion;
  options.num_prompts = 2;
  options.logprobs = true;
  options.id = "cmpl-given";
  options.created = 7;
  ResponseAggregator aggregator(options);
  v1::GenerateResponse echo = Message(0, "Hi", v1::FINISH_REASON_UNSPECIFIED, {Unscored(1, "Hi")});
  echo.set_echo(true);
  AddAll(aggregator,
         {WithUsage(Message(0, "B", v1::FINISH_REASON_LENGTH, {Token(9, "B", -2, {{"B", -2}})}), 3,
                    1)},
         1);
  AddAll(aggregator,
         {echo, WithUsage(Message(0, " there", v1::FINISH_REASON_STOP,
                                  {Token(2, " there", -0.75f, {{" there", -0.75f}})}),
                          2, 1, 1)},
         0);
  // The protocol sends nothing for a finished choice; if it did, it would be ignored.
  REQUIRE(aggregator.Add(WithUsage(Message(0, "late"), 100, 100), 1).ok());
  absl::StatusOr<json> body = aggregator.Finish();
  REQUIRE(body.ok());
  CHECK(*body == json::parse(R"({
    "id": "cmpl-given", "object": "text_completion", "created": 7, "model": "smol",
    "choices": [
      {"index": 0, "text": "Hi there", "finish_reason": "stop", "logprobs": {
        "tokens": ["Hi", " there"], "token_logprobs": [null, -0.75],
        "top_logprobs": [null, {" there": -0.75}], "text_offset": [0, 2]}},
      {"index": 1, "text": "B", "finish_reason": "length", "logprobs": {
        "tokens": ["B"], "token_logprobs": [-2.0], "top_logprobs": [{"B": -2.0}],
        "text_offset": [0]}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 1}}})"));
}

TEST_CASE("openai aggregate: failed and cancelled choices, unfinished streams", "[openai]") {
  ResponseOptions options;
  options.n = 2;
  {
    ResponseAggregator aggregator(options);
    REQUIRE(aggregator.Add(Message(0, "a")).ok());
    v1::GenerateResponse failed = Message(0, "", v1::FINISH_REASON_ERROR);
    failed.set_error_message("backend fault");
    const absl::Status status = aggregator.Add(failed);
    CHECK(status.code() == absl::StatusCode::kInternal);
    CHECK(status.message() == "generation failed: backend fault");
    CHECK(ApiErrorFromStatus(status).http_status == 500);
  }
  {
    ResponseAggregator aggregator(options);
    const absl::Status status = aggregator.Add(Message(1, "", v1::FINISH_REASON_CANCELLED));
    CHECK(status.code() == absl::StatusCode::kUnavailable);
    CHECK(ApiErrorFromStatus(status).http_status == 503);
  }
  {
    ResponseAggregator aggregator(options);
    REQUIRE(aggregator.Add(Message(0, "a", v1::FINISH_REASON_STOP)).ok());
    CHECK_FALSE(aggregator.done());
    CHECK(aggregator.Finish().status().code() == absl::StatusCode::kInternal);
    CHECK(aggregator.Add(Message(5, "x")).code() == absl::StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace trustformers::server::openai
