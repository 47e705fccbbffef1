#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "server/http/openai/json_output.h"
#include "server/http/openai/stream_converter.h"
#include "unit/server/openai_test_messages.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;
using testing::Message;
using testing::Token;
using testing::Unscored;
using testing::WithCreated;
using testing::WithUsage;

ResponseOptions ChatOptions(int32_t n, bool include_usage) {
  ResponseOptions options;
  options.kind = ApiKind::kChat;
  options.n = n;
  options.include_usage = include_usage;
  return options;
}

std::vector<json> All(StreamConverter& converter, const std::vector<v1::GenerateResponse>& in) {
  std::vector<json> out;
  for (const v1::GenerateResponse& m : in) {
    StreamEvents events = converter.Convert(m);
    REQUIRE_FALSE(events.error.has_value());
    for (json& chunk : events.chunks) out.push_back(std::move(chunk));
  }
  return out;
}

TEST_CASE("openai stream: chat n=2, interleaved, finish reasons and the usage chunk", "[openai]") {
  StreamConverter converter(ChatOptions(2, /*include_usage=*/true));
  const std::vector<json> chunks =
      All(converter, {WithCreated(Message(0, "Hel"), 1700000000), Message(1, "Wor"),
                      Message(0, "lo"), Message(1, "ld", v1::FINISH_REASON_LENGTH),
                      WithUsage(Message(0, "", v1::FINISH_REASON_STOP), 5, 4, 2)});
  CHECK(converter.done());
  const json expected = json::parse(R"([
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "usage": null, "choices": [{"index": 0,
     "delta": {"role": "assistant", "content": "Hel"}, "logprobs": null, "finish_reason": null}]},
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "usage": null, "choices": [{"index": 1,
     "delta": {"role": "assistant", "content": "Wor"}, "logprobs": null, "finish_reason": null}]},
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "usage": null, "choices": [{"index": 0,
     "delta": {"content": "lo"}, "logprobs": null, "finish_reason": null}]},
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "usage": null, "choices": [{"index": 1,
     "delta": {"content": "ld"}, "logprobs": null, "finish_reason": "length"}]},
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "usage": null, "choices": [{"index": 0,
     "delta": {}, "logprobs": null, "finish_reason": "stop"}]},
    {"id": "chatcmpl-req-1", "object": "chat.completion.chunk", "created": 1700000000,
     "model": "smol", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4,
     "total_tokens": 9, "prompt_tokens_details": {"cached_tokens": 2}}}
  ])");
  REQUIRE(chunks.size() == expected.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    INFO("chunk " << i << ": " << DumpJson(chunks[i]));
    CHECK(chunks[i] == expected[i]);
  }
}

TEST_CASE("openai stream: chat without include_usage has no usage key", "[openai]") {
  StreamConverter converter(ChatOptions(1, /*include_usage=*/false));
  const std::vector<json> chunks =
      All(converter, {Message(0, "a"), WithUsage(Message(0, "b", v1::FINISH_REASON_STOP), 3, 2)});
  REQUIRE(chunks.size() == 2);
  for (const json& chunk : chunks) CHECK_FALSE(chunk.contains("usage"));
  CHECK(chunks[1]["choices"][0]["delta"] == json{{"content", "b"}});
  CHECK(chunks[1]["choices"][0]["finish_reason"] == "stop");
  CHECK(chunks[0]["created"] == 0);  // no created stamp and none given
}

TEST_CASE("openai stream: empty messages send nothing, except a choice's first", "[openai]") {
  StreamConverter converter(ChatOptions(1, false));
  std::vector<json> chunks = All(converter, {Message(0, "")});
  REQUIRE(chunks.size() == 1);  // the role chunk
  CHECK(chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
  // Tokens held back (no text) and no logprobs requested: nothing to say.
  v1::GenerateResponse held = Message(0, "");
  held.add_token_ids(5);
  CHECK(All(converter, {held}).empty());
  // Finishing on a choice's first message: role and finish in one chunk.
  StreamConverter single(ChatOptions(1, false));
  chunks = All(single, {Message(0, "ok", v1::FINISH_REASON_STOP_SEQUENCE)});
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", "ok"}});
  CHECK(chunks[0]["choices"][0]["finish_reason"] == "stop");
  CHECK(single.done());
}

TEST_CASE("openai stream: options override id, created, model; fingerprint", "[openai]") {
  ResponseOptions options = ChatOptions(1, false);
  options.id = "chatcmpl-fixed";
  options.created = 42;
  options.model = "alias";
  options.system_fingerprint = "fp_tf";
  StreamConverter converter(options);
  const std::vector<json> chunks =
      All(converter, {WithCreated(Message(0, "x", v1::FINISH_REASON_STOP), 1700000000)});
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0]["id"] == "chatcmpl-fixed");
  CHECK(chunks[0]["created"] == 42);
  CHECK(chunks[0]["model"] == "alias");
  CHECK(chunks[0]["system_fingerprint"] == "fp_tf");
}

TEST_CASE("openai stream: a failed choice sends its text, then an error", "[openai]") {
  StreamConverter converter(ChatOptions(2, true));
  All(converter, {Message(0, "a"), Message(1, "b")});
  v1::GenerateResponse failed = Message(1, "c", v1::FINISH_REASON_ERROR);
  failed.set_error_message("non-finite logits");
  StreamEvents events = converter.Convert(failed);
  REQUIRE(events.chunks.size() == 1);
  CHECK(events.chunks[0]["choices"][0]["delta"] == json{{"content", "c"}});
  CHECK(events.chunks[0]["choices"][0]["finish_reason"].is_null());
  REQUIRE(events.error.has_value());
  CHECK(events.error->http_status == 500);
  CHECK(events.error->type == "server_error");
  CHECK(events.error->message == "generation failed: non-finite logits");
  CHECK(ErrorBody(*events.error)["error"]["message"] == "generation failed: non-finite logits");
  CHECK(converter.failed());
  CHECK_FALSE(converter.done());
  // Nothing after the error, not even the usage chunk.
  events = converter.Convert(WithUsage(Message(0, "d", v1::FINISH_REASON_STOP), 1, 1));
  CHECK(events.chunks.empty());
  CHECK_FALSE(events.error.has_value());
}

TEST_CASE("openai stream: a cancelled choice is a retryable 503 error", "[openai]") {
  StreamConverter converter(ChatOptions(1, false));
  StreamEvents events = converter.Convert(Message(0, "", v1::FINISH_REASON_CANCELLED));
  REQUIRE(events.chunks.size() == 1);  // the role chunk, without a finish_reason
  CHECK(events.chunks[0]["choices"][0]["finish_reason"].is_null());
  REQUIRE(events.error.has_value());
  CHECK(events.error->http_status == 503);
  CHECK(events.error->type == "server_error");
}

TEST_CASE("openai stream: a choice index outside n is an error", "[openai]") {
  StreamConverter converter(ChatOptions(2, false));
  StreamEvents events = converter.Convert(Message(2, "x"));
  REQUIRE(events.error.has_value());
  CHECK(events.error->http_status == 500);
  CHECK(events.chunks.empty());
}

TEST_CASE("openai stream: messages after a choice finished are ignored", "[openai]") {
  StreamConverter converter(ChatOptions(2, false));
  All(converter, {Message(0, "a", v1::FINISH_REASON_STOP)});
  CHECK(All(converter, {Message(0, "late")}).empty());
  CHECK_FALSE(converter.done());
}

TEST_CASE("openai stream: chat logprobs shape", "[openai]") {
  ResponseOptions options = ChatOptions(1, false);
  options.logprobs = true;
  StreamConverter converter(options);
  const std::vector<json> chunks =
      All(converter, {Message(0, "Hi", v1::FINISH_REASON_UNSPECIFIED,
                              {Token(10, "Hi", -0.1f, {{"Hi", -0.1f}, {"Hey", -2.5f}})}),
                      // Half of "é": no text yet, but its logprob goes out.
                      Message(0, "", v1::FINISH_REASON_UNSPECIFIED, {Token(11, "\xC3", -1)}),
                      Message(0, "\xC3\xA9", v1::FINISH_REASON_STOP, {Token(12, "\xA9", -0.5f)})});
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0]["choices"][0]["logprobs"] == json::parse(R"({"refusal": null, "content": [
    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [
      {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
      {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]}]}]})"));
  CHECK(chunks[1]["choices"][0]["delta"] == json{{"content", ""}});
  CHECK(chunks[1]["choices"][0]["logprobs"]["content"][0]["bytes"] == json::array({195}));
  CHECK(chunks[2]["choices"][0]["logprobs"]["content"][0]["bytes"] == json::array({169}));
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "stop");
  // The float text is float32-short.
  CHECK(DumpJson(chunks[0]["choices"][0]["logprobs"]["content"][0]["logprob"]) == "-0.1");
}

TEST_CASE("openai stream: chat echo is content without logprobs", "[openai]") {
  ResponseOptions options = ChatOptions(1, false);
  options.logprobs = true;
  StreamConverter converter(options);
  v1::GenerateResponse echo = Message(0, "<|user|>hi", v1::FINISH_REASON_UNSPECIFIED,
                                      {Unscored(1, "<|user|>"), Token(2, "hi", -3)});
  echo.set_echo(true);
  const std::vector<json> chunks = All(converter, {echo});
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0]["choices"][0]["delta"]["content"] == "<|user|>hi");
  CHECK(chunks[0]["choices"][0]["logprobs"].is_null());
}

TEST_CASE("openai stream: completions, two prompts, n=2, usage summed", "[openai]") {
  ResponseOptions options;
  options.kind = ApiKind::kCompletion;
  options.n = 2;
  options.num_prompts = 2;
  options.include_usage = true;
  StreamConverter converter(options);
  std::vector<json> chunks;
  auto feed = [&](const v1::GenerateResponse& m, int32_t prompt) {
    StreamEvents events = converter.Convert(m, prompt);
    REQUIRE_FALSE(events.error.has_value());
    for (json& c : events.chunks) chunks.push_back(std::move(c));
  };
  feed(WithCreated(Message(1, "p0c1"), 1700000001), 0);
  feed(WithCreated(Message(1, "p1c1"), 1700000002), 1);
  feed(Message(0, "p0c0", v1::FINISH_REASON_STOP), 0);
  feed(WithUsage(Message(1, "", v1::FINISH_REASON_LENGTH), 3, 10), 0);  // prompt 0 done
  feed(Message(0, "p1c0", v1::FINISH_REASON_STOP), 1);
  CHECK_FALSE(converter.done());
  feed(WithUsage(Message(1, "!", v1::FINISH_REASON_STOP), 4, 7), 1);
  CHECK(converter.done());
  const json expected = json::parse(R"([
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 1, "text": "p0c1", "logprobs": null,
     "finish_reason": null}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 3, "text": "p1c1", "logprobs": null,
     "finish_reason": null}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 0, "text": "p0c0", "logprobs": null,
     "finish_reason": "stop"}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 1, "text": "", "logprobs": null,
     "finish_reason": "length"}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 2, "text": "p1c0", "logprobs": null,
     "finish_reason": "stop"}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "usage": null, "choices": [{"index": 3, "text": "!", "logprobs": null,
     "finish_reason": "stop"}]},
    {"id": "cmpl-req-1", "object": "text_completion", "created": 1700000001, "model": "smol",
     "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 17, "total_tokens": 24}}
  ])");
  REQUIRE(chunks.size() == expected.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    INFO("chunk " << i << ": " << DumpJson(chunks[i]));
    CHECK(chunks[i] == expected[i]);
  }
  // A prompt index outside the request is an error.
  StreamConverter other(options);
  CHECK(other.Convert(Message(0, "x"), 2).error.has_value());
}

TEST_CASE("openai stream: completions legacy logprobs continue across chunks", "[openai]") {
  ResponseOptions options;
  options.kind = ApiKind::kCompletion;
  options.logprobs = true;
  StreamConverter converter(options);
  v1::GenerateResponse echo =
      Message(0, "Say", v1::FINISH_REASON_UNSPECIFIED, {Unscored(1, "Say")});
  echo.set_echo(true);
  const std::vector<json> chunks = All(
      converter,
      {echo,
       Message(0, " h\xC3\xA9", v1::FINISH_REASON_UNSPECIFIED,
               {Token(2, " h\xC3", -0.25f, {{" h\xC3", -0.25f}}), Token(3, "\xA9", -0.5f)}),
       Message(0, "!", v1::FINISH_REASON_LENGTH,
               {Token(4, "!", -1,
                      {{"!", -1}, {"?", -1.5f}, {"\xEF\xBF\xBD", -2}, {"\xEF\xBF\xBD", -3}})})});
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0]["choices"][0]["text"] == "Say");
  CHECK(chunks[0]["choices"][0]["logprobs"] == json::parse(R"({"tokens": ["Say"],
      "token_logprobs": [null], "top_logprobs": [null], "text_offset": [0]})"));
  // Token text is what the proto carries (the server makes it valid UTF-8); here the test
  // gives raw bytes, so compare offsets and logprobs only.
  CHECK(chunks[1]["choices"][0]["logprobs"]["text_offset"] == json::array({3, 5}));  // é at 5
  CHECK(chunks[1]["choices"][0]["logprobs"]["token_logprobs"] == json::array({-0.25, -0.5}));
  CHECK(chunks[1]["choices"][0]["logprobs"]["top_logprobs"][1] == json::object());
  // "Say h\u00e9" is 6 code points: "!" starts at 6. Equal texts keep the more likely.
  CHECK(chunks[2]["choices"][0]["logprobs"] == json::parse(R"({"tokens": ["!"],
      "token_logprobs": [-1.0], "top_logprobs": [{"!": -1.0, "?": -1.5, "\ufffd": -2.0}],
      "text_offset": [6]})"));
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "length");
}

}  // namespace
}  // namespace trustformers::server::openai
