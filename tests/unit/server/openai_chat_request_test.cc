#include <string>

#include "catch2/catch.hpp"
#include "server/http/openai/chat_request.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

using nlohmann::json;

// A minimal valid body with `extra` merged over it.
json Body(const std::string& extra = "{}") {
  json body = json::parse(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  body.update(json::parse(extra));
  return body;
}

ChatCompletionRequest Parse(const std::string& extra) {
  absl::StatusOr<ChatCompletionRequest> request = ParseChatCompletionRequest(Body(extra));
  INFO(request.status().ToString());
  REQUIRE(request.ok());
  return *std::move(request);
}

// The param and code of the error `extra` causes.
std::pair<std::string, std::string> ErrorOfBody(const json& body) {
  absl::StatusOr<ChatCompletionRequest> request = ParseChatCompletionRequest(body);
  REQUIRE_FALSE(request.ok());
  const ApiError error = ApiErrorFromStatus(request.status());
  CHECK(error.http_status == 400);
  CHECK(error.type == "invalid_request_error");
  return {error.param.value_or("<none>"), error.code};
}
std::pair<std::string, std::string> ErrorOf(const std::string& extra) {
  return ErrorOfBody(Body(extra));
}

TEST_CASE("openai chat request: minimal body and defaults", "[openai]") {
  const ChatCompletionRequest r = Parse("{}");
  CHECK(r.generate.model() == "m");
  REQUIRE(r.generate.has_messages());
  REQUIRE(r.generate.messages().messages_size() == 1);
  CHECK(r.generate.messages().messages(0).role() == "user");
  CHECK(r.generate.messages().messages(0).content() == "hi");
  CHECK_FALSE(r.generate.messages().messages(0).has_name());
  CHECK(r.generate.include_usage());  // always: non-stream responses need usage
  CHECK_FALSE(r.flags.stream);
  CHECK_FALSE(r.flags.include_usage);
  CHECK_FALSE(r.logprobs);
  CHECK(r.n == 1);
  const v1::SamplingParams& s = r.generate.sampling();
  CHECK_FALSE(s.has_max_tokens());
  CHECK_FALSE(s.has_temperature());
  CHECK_FALSE(s.has_top_p());
  CHECK_FALSE(s.has_seed());
  CHECK_FALSE(s.has_logprobs());
  CHECK(s.n() == 0);
  CHECK(s.stop_size() == 0);
  CHECK_FALSE(r.generate.has_priority());
  CHECK_FALSE(r.generate.has_add_generation_prompt());
  CHECK_FALSE(r.generate.has_chat_template_kwargs());
}

TEST_CASE("openai chat request: every sampling field maps to the proto", "[openai]") {
  const ChatCompletionRequest r = Parse(R"({
    "stream": true, "stream_options": {"include_usage": true},
    "max_completion_tokens": 64, "temperature": 0.7, "top_p": 0.9, "n": 3,
    "stop": ["END", "\n\n"], "seed": 42, "logit_bias": {"50256": -100, "7": 2.5},
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "user": "u-1",
    "logprobs": true, "top_logprobs": 4,
    "top_k": 40, "min_p": 0.05, "typical_p": 0.95, "repetition_penalty": 1.1,
    "ignore_eos": true, "skip_special_tokens": false, "min_tokens": 2,
    "stop_token_ids": [1, 2], "add_generation_prompt": false, "echo": true, "priority": -3,
    "add_special_tokens": true,
    "chat_template_kwargs": {"enable_thinking": false, "depth": 2, "tags": ["a", null],
                             "nested": {"x": "y"}},
    "response_format": {"type": "text"}, "tools": [], "tool_choice": "none",
    "parallel_tool_calls": false, "metadata": {"unknown": "fields are ignored"}
  })");
  CHECK(r.flags.stream);
  CHECK(r.flags.include_usage);
  CHECK(r.logprobs);
  CHECK(r.top_logprobs == 4);
  CHECK(r.n == 3);
  const v1::SamplingParams& s = r.generate.sampling();
  CHECK(s.max_tokens() == 64);
  CHECK(s.temperature() == 0.7f);
  CHECK(s.top_p() == 0.9f);
  CHECK(s.n() == 3);
  REQUIRE(s.stop_size() == 2);
  CHECK(s.stop(0) == "END");
  CHECK(s.stop(1) == "\n\n");
  CHECK(s.seed() == 42);
  CHECK(s.logit_bias().size() == 2);
  CHECK(s.logit_bias().at(50256) == -100.0f);
  CHECK(s.logit_bias().at(7) == 2.5f);
  CHECK(s.presence_penalty() == 0.5f);
  CHECK(s.frequency_penalty() == -0.5f);
  CHECK(s.logprobs() == 4);
  CHECK(s.top_k() == 40);
  CHECK(s.min_p() == 0.05f);
  CHECK(s.typical_p() == 0.95f);
  CHECK(s.repetition_penalty() == 1.1f);
  CHECK(s.ignore_eos());
  CHECK_FALSE(s.skip_special_tokens());
  CHECK(s.min_tokens() == 2);
  CHECK(std::vector<int32_t>(s.stop_token_ids().begin(), s.stop_token_ids().end()) ==
        std::vector<int32_t>{1, 2});
  CHECK(s.echo_prompt());
  CHECK(r.generate.add_generation_prompt() == false);
  CHECK(r.generate.has_add_generation_prompt());
  CHECK(r.generate.add_special_tokens());
  CHECK(r.generate.priority() == -3);
  const google::protobuf::Struct& kwargs = r.generate.chat_template_kwargs();
  CHECK(kwargs.fields().at("enable_thinking").bool_value() == false);
  CHECK(kwargs.fields().at("depth").number_value() == 2.0);
  CHECK(kwargs.fields().at("tags").list_value().values(0).string_value() == "a");
  CHECK(kwargs.fields().at("tags").list_value().values(1).has_null_value());
  CHECK(kwargs.fields().at("nested").struct_value().fields().at("x").string_value() == "y");
}

TEST_CASE("openai chat request: null means unset", "[openai]") {
  const ChatCompletionRequest r = Parse(R"({
    "stream": null, "stream_options": null, "max_tokens": null, "max_completion_tokens": null,
    "temperature": null, "top_p": null, "n": null, "stop": null, "seed": null,
    "logit_bias": null, "presence_penalty": null, "frequency_penalty": null, "logprobs": null,
    "top_logprobs": null, "response_format": null, "tools": null, "tool_choice": null,
    "functions": null, "function_call": null, "top_k": null, "chat_template_kwargs": null
  })");
  CHECK_FALSE(r.flags.stream);
  CHECK_FALSE(r.generate.sampling().has_max_tokens());
  CHECK_FALSE(r.generate.sampling().has_temperature());
  CHECK_FALSE(r.generate.sampling().has_seed());
  CHECK(r.n == 1);
}

TEST_CASE("openai chat request: message roles, names and content parts", "[openai]") {
  const ChatCompletionRequest r = Parse(R"({"messages": [
    {"role": "developer", "content": "be brief"},
    {"role": "system", "content": "sys"},
    {"role": "user", "name": "ann", "content": [{"type": "text", "text": "Hello, "},
                                                {"type": "text", "text": "world"}]},
    {"role": "assistant", "content": null, "tool_calls": []},
    {"role": "assistant"},
    {"role": "tool", "content": "42", "tool_call_id": "call_1"}
  ]})");
  const v1::ChatMessages& m = r.generate.messages();
  REQUIRE(m.messages_size() == 6);
  CHECK(m.messages(0).role() == "system");  // developer is rendered as system
  CHECK(m.messages(0).content() == "be brief");
  CHECK(m.messages(1).role() == "system");
  CHECK(m.messages(2).role() == "user");
  CHECK(m.messages(2).name() == "ann");
  CHECK(m.messages(2).content() == "Hello, world");
  CHECK(m.messages(3).role() == "assistant");
  CHECK(m.messages(3).content().empty());
  CHECK(m.messages(4).content().empty());
  CHECK(m.messages(5).role() == "tool");
  CHECK(m.messages(5).content() == "42");
}

TEST_CASE("openai chat request: message errors name the offending field", "[openai]") {
  using P = std::pair<std::string, std::string>;
  CHECK(ErrorOfBody(json::parse(R"({"model": "m"})")) ==
        P{"messages", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"messages": []})") == P{"messages", "invalid_value"});
  CHECK(ErrorOf(R"({"messages": "hi"})") == P{"messages", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": "a"}, "b"]})") ==
        P{"messages[1]", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"content": "a"}]})") ==
        P{"messages[0].role", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"messages": [{"role": 1, "content": "a"}]})") ==
        P{"messages[0].role", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "function", "content": "a"}]})") ==
        P{"messages[0].role", "invalid_value"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user"}]})") ==
        P{"messages[1].content", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": 5}]})") ==
        P{"messages[0].content", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user",
      "content": [{"type": "text", "text": "x"},
                  {"type": "image_url", "image_url": {"url": "http://x"}}]}]})") ==
        P{"messages[1].content[1].type", "unsupported_value"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": ["x"]}]})") ==
        P{"messages[0].content[0]", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})") ==
        P{"messages[0].content[0].type", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})") ==
        P{"messages[0].content[0].text", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})") ==
        P{"messages[0].content[0].text", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "user", "content": "a", "name": 3}]})") ==
        P{"messages[0].name", "invalid_type"});
  CHECK(ErrorOf(R"({"messages": [{"role": "assistant", "content": null,
      "tool_calls": [{"id": "c", "type": "function"}]}]})") ==
        P{"messages[0].tool_calls", "unsupported_parameter"});
  CHECK(ErrorOf(R"({"messages": [{"role": "assistant", "function_call": {"name": "f"}}]})") ==
        P{"messages[0].function_call", "unsupported_parameter"});
}

TEST_CASE("openai chat request: field errors name the field", "[openai]") {
  using P = std::pair<std::string, std::string>;
  CHECK(ErrorOfBody(json::parse(R"({"messages": [{"role": "user", "content": "a"}]})")) ==
        P{"model", "missing_required_parameter"});
  CHECK(ErrorOf(R"({"model": 3})") == P{"model", "invalid_type"});
  CHECK(ErrorOf(R"({"model": ""})") == P{"model", "invalid_value"});
  CHECK(ErrorOf(R"({"temperature": "hot"})") == P{"temperature", "invalid_type"});
  CHECK(ErrorOf(R"({"temperature": 2.5})") == P{"temperature", "invalid_value"});
  CHECK(ErrorOf(R"({"top_p": 0})") == P{"top_p", "invalid_value"});
  CHECK(ErrorOf(R"({"top_p": 1.01})") == P{"top_p", "invalid_value"});
  CHECK(ErrorOf(R"({"presence_penalty": -2.1})") == P{"presence_penalty", "invalid_value"});
  CHECK(ErrorOf(R"({"frequency_penalty": 3})") == P{"frequency_penalty", "invalid_value"});
  CHECK(ErrorOf(R"({"n": 0})") == P{"n", "invalid_value"});
  CHECK(ErrorOf(R"({"n": 17})") == P{"n", "invalid_value"});
  CHECK(ErrorOf(R"({"n": 1.5})") == P{"n", "invalid_value"});
  CHECK(ErrorOf(R"({"max_tokens": -1})") == P{"max_tokens", "invalid_value"});
  CHECK(ErrorOf(R"({"max_tokens": "10"})") == P{"max_tokens", "invalid_type"});
  CHECK(ErrorOf(R"({"max_completion_tokens": 3000000000})") ==
        P{"max_completion_tokens", "invalid_value"});
  CHECK(ErrorOf(R"({"max_tokens": 10, "max_completion_tokens": 20})") ==
        P{"max_tokens", "invalid_value"});
  CHECK(ErrorOf(R"({"stream": "yes"})") == P{"stream", "invalid_type"});
  CHECK(ErrorOf(R"({"stream_options": {"include_usage": true}})") ==
        P{"stream_options", "invalid_value"});
  CHECK(ErrorOf(R"({"stream": true, "stream_options": true})") ==
        P{"stream_options", "invalid_type"});
  CHECK(ErrorOf(R"({"stream": true, "stream_options": {"include_usage": 1}})") ==
        P{"stream_options.include_usage", "invalid_type"});
  CHECK(ErrorOf(R"({"stop": 5})") == P{"stop", "invalid_type"});
  CHECK(ErrorOf(R"({"stop": ["a", 5]})") == P{"stop[1]", "invalid_type"});
  CHECK(ErrorOf(R"({"stop": ["a", ""]})") == P{"stop[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"stop": ""})") == P{"stop", "invalid_value"});
  CHECK(ErrorOfBody(json{{"model", "m"},
                         {"messages", json::parse(R"([{"role": "user", "content": "a"}])")},
                         {"stop", std::string(257, 'x')}}) == P{"stop", "invalid_value"});
  CHECK(ErrorOfBody(json{{"model", "m"},
                         {"messages", json::parse(R"([{"role": "user", "content": "a"}])")},
                         {"stop", std::vector<std::string>(17, "s")}}) ==
        P{"stop", "invalid_value"});
  CHECK(ErrorOf(R"({"seed": "1"})") == P{"seed", "invalid_type"});
  CHECK(ErrorOf(R"({"seed": 1.5})") == P{"seed", "invalid_value"});
  CHECK(ErrorOf(R"({"logit_bias": [1]})") == P{"logit_bias", "invalid_type"});
  CHECK(ErrorOf(R"({"logit_bias": {"abc": 1}})") == P{"logit_bias", "invalid_value"});
  CHECK(ErrorOf(R"({"logit_bias": {"-1": 1}})") == P{"logit_bias", "invalid_value"});
  CHECK(ErrorOf(R"({"logit_bias": {"5": "1"}})") == P{"logit_bias", "invalid_type"});
  CHECK(ErrorOf(R"({"logit_bias": {"5": 101}})") == P{"logit_bias", "invalid_value"});
  CHECK(ErrorOf(R"({"logprobs": 1})") == P{"logprobs", "invalid_type"});
  CHECK(ErrorOf(R"({"logprobs": true, "top_logprobs": 21})") == P{"top_logprobs", "invalid_value"});
  CHECK(ErrorOf(R"({"top_logprobs": 2})") == P{"top_logprobs", "invalid_value"});
  CHECK(ErrorOf(R"({"top_k": -2})") == P{"top_k", "invalid_value"});
  CHECK(ErrorOf(R"({"min_p": 1.5})") == P{"min_p", "invalid_value"});
  CHECK(ErrorOf(R"({"typical_p": 0})") == P{"typical_p", "invalid_value"});
  CHECK(ErrorOf(R"({"repetition_penalty": 0})") == P{"repetition_penalty", "invalid_value"});
  CHECK(ErrorOf(R"({"min_tokens": -1})") == P{"min_tokens", "invalid_value"});
  CHECK(ErrorOf(R"({"ignore_eos": "true"})") == P{"ignore_eos", "invalid_type"});
  CHECK(ErrorOf(R"({"skip_special_tokens": 0})") == P{"skip_special_tokens", "invalid_type"});
  CHECK(ErrorOf(R"({"stop_token_ids": 5})") == P{"stop_token_ids", "invalid_type"});
  CHECK(ErrorOf(R"({"stop_token_ids": [1, -1]})") == P{"stop_token_ids[1]", "invalid_value"});
  CHECK(ErrorOf(R"({"echo": "no"})") == P{"echo", "invalid_type"});
  CHECK(ErrorOf(R"({"priority": 1e10})") == P{"priority", "invalid_value"});
  CHECK(ErrorOf(R"({"add_generation_prompt": 1})") == P{"add_generation_prompt", "invalid_type"});
  CHECK(ErrorOf(R"({"chat_template_kwargs": [1]})") == P{"chat_template_kwargs", "invalid_type"});
}

TEST_CASE("openai chat request: unsupported features are refused by name", "[openai]") {
  using P = std::pair<std::string, std::string>;
  CHECK(ErrorOf(R"({"response_format": {"type": "json_object"}})") ==
        P{"response_format", "unsupported_value"});
  CHECK(ErrorOf(R"({"response_format": {"type": "json_schema", "json_schema": {}}})") ==
        P{"response_format", "unsupported_value"});
  CHECK(ErrorOf(R"({"response_format": "text"})") == P{"response_format", "invalid_type"});
  CHECK(ErrorOf(R"({"tools": [{"type": "function", "function": {"name": "f"}}]})") ==
        P{"tools", "unsupported_parameter"});
  CHECK(ErrorOf(R"({"tools": {}})") == P{"tools", "invalid_type"});
  CHECK(ErrorOf(R"({"functions": [{"name": "f"}]})") == P{"functions", "unsupported_parameter"});
  CHECK(ErrorOf(R"({"tool_choice": "required"})") == P{"tool_choice", "unsupported_value"});
  CHECK(ErrorOf(R"({"tool_choice": {"type": "function", "function": {"name": "f"}}})") ==
        P{"tool_choice", "unsupported_value"});
  CHECK(ErrorOf(R"({"function_call": {"name": "f"}})") == P{"function_call", "unsupported_value"});
  // "auto" with no tools has nothing to call: accepted.
  CHECK(ParseChatCompletionRequest(Body(R"({"tool_choice": "auto"})")).ok());
}

TEST_CASE("openai chat request: max_tokens, seeds, top_k and logprobs details", "[openai]") {
  CHECK(Parse(R"({"max_tokens": 7})").generate.sampling().max_tokens() == 7);
  CHECK(
      Parse(R"({"max_tokens": 7, "max_completion_tokens": 7})").generate.sampling().max_tokens() ==
      7);
  CHECK(Parse(R"({"max_completion_tokens": 9})").generate.sampling().max_tokens() == 9);
  // A negative seed keeps its bits; the largest unsigned one fits too.
  CHECK(Parse(R"({"seed": -1})").generate.sampling().seed() == UINT64_MAX);
  CHECK(Parse(R"({"seed": 18446744073709551615})").generate.sampling().seed() == UINT64_MAX);
  CHECK(Parse(R"({"seed": 0})").generate.sampling().has_seed());
  // vLLM's -1 disables top_k; ours is 0.
  CHECK(Parse(R"({"top_k": -1})").generate.sampling().top_k() == 0);
  CHECK(Parse(R"({"top_k": -1})").generate.sampling().has_top_k());
  // logprobs without top_logprobs: the token's own logprob only.
  const ChatCompletionRequest lp = Parse(R"({"logprobs": true})");
  CHECK(lp.logprobs);
  CHECK(lp.generate.sampling().logprobs() == 0);
  CHECK(lp.generate.sampling().has_logprobs());
  CHECK_FALSE(
      Parse(R"({"logprobs": false, "top_logprobs": 0})").generate.sampling().has_logprobs());
  CHECK(Parse(R"({"stop": "###"})").generate.sampling().stop(0) == "###");
  CHECK(Parse(R"({"stop": []})").generate.sampling().stop_size() == 0);
  CHECK(Parse(R"({"stream": true})").flags.stream);
  CHECK_FALSE(Parse(R"({"stream": true, "stream_options": {}})").flags.include_usage);
}

TEST_CASE("openai chat request: not an object, deep kwargs", "[openai]") {
  CHECK(ParseChatCompletionRequest(json::parse("[1]")).status().code() ==
        absl::StatusCode::kInvalidArgument);
  json deep = json::object();
  json* at = &deep;
  for (int i = 0; i < 40; ++i) at = &((*at)["k"] = json::object());
  json body = Body();
  body["chat_template_kwargs"] = deep;
  CHECK(ErrorOfBody(body) ==
        std::pair<std::string, std::string>{"chat_template_kwargs", "invalid_value"});
}

}  // namespace
}  // namespace trustformers::server::openai
