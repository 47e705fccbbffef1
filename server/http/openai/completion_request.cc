#include "server/http/openai/completion_request.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int32_t kMaxLegacyLogprobs = 5;

// A prompt is text or token ids; the request's prompts all take one form.
struct Prompt {
  std::string text;
  std::vector<int32_t> token_ids;
  bool is_tokens = false;
};

absl::Status ReadTextPrompt(const nlohmann::json& value, const std::string& param,
                            std::vector<Prompt>* out) {
  if (!value.is_string()) {
    return ParamError(param, kInvalidType,
                      absl::StrCat("'", param, "' must be a string, got ", JsonTypeName(value),
                                   " (a prompt array holds strings, token ids or arrays of "
                                   "token ids, not a mix)"));
  }
  if (value.get_ref<const std::string&>().empty()) {
    return ParamError(param, kInvalidValue, absl::StrCat("'", param, "' must not be empty"));
  }
  Prompt text;
  text.text = value.get<std::string>();
  out->push_back(std::move(text));
  return absl::OkStatus();
}

absl::Status ReadPrompts(const nlohmann::json& prompt, std::vector<Prompt>* out) {
  if (prompt.is_string()) return ReadTextPrompt(prompt, "prompt", out);
  if (!prompt.is_array()) {
    return ParamError("prompt", kInvalidType,
                      absl::StrCat("'prompt' must be a string, an array of strings, an array of "
                                   "token ids or an array of arrays of token ids, got ",
                                   JsonTypeName(prompt)));
  }
  if (prompt.empty()) return ParamError("prompt", kInvalidValue, "'prompt' must not be empty");
  if (IsIntegerArray(prompt)) {
    Prompt tokens;
    tokens.is_tokens = true;
    if (absl::Status s = JsonToTokenIds(prompt, "prompt", &tokens.token_ids); !s.ok()) return s;
    out->push_back(std::move(tokens));
    return absl::OkStatus();
  }
  // Several prompts, of the form of the first one.
  const bool tokens = prompt[0].is_array();
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string param = absl::StrCat("prompt[", i, "]");
    if (!tokens) {
      if (absl::Status s = ReadTextPrompt(prompt[i], param, out); !s.ok()) return s;
      continue;
    }
    Prompt ids;
    ids.is_tokens = true;
    if (absl::Status s = JsonToTokenIds(prompt[i], param, &ids.token_ids); !s.ok()) return s;
    out->push_back(std::move(ids));
  }
  return absl::OkStatus();
}

void ReadUnsupported(FieldReader& reader, int32_t n) {
  if (auto suffix = reader.String("suffix"); suffix.has_value() && !suffix->empty()) {
    reader.Fail("suffix", kUnsupportedParameter,
                "'suffix' is not supported: this server has no fill-in-the-middle");
  }
  if (auto best_of = reader.Int("best_of", 1, kInt32Max); best_of.has_value() && *best_of != n) {
    reader.Fail("best_of", kUnsupportedValue,
                absl::StrCat("'best_of' must be unset or equal to 'n' (", n, "), got ", *best_of,
                             ": choosing the best of several completions is not supported"));
  }
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const nlohmann::json& body) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, got ", JsonTypeName(body)));
  }
  try {
    CompletionRequest out;
    v1::GenerateRequest shared;
    FieldReader reader(body);
    ReadSharedFields(reader, &shared, &out.flags);
    out.n = NumChoices(shared);
    shared.mutable_sampling()->set_max_tokens(static_cast<int32_t>(
        reader.Int("max_tokens", 0, kInt32Max).value_or(kDefaultCompletionMaxTokens)));
    if (auto logprobs = reader.Int("logprobs", 0, kMaxLegacyLogprobs)) {
      out.logprobs = static_cast<int32_t>(*logprobs);
      shared.mutable_sampling()->set_logprobs(*out.logprobs);
    }
    out.echo = shared.sampling().echo_prompt();
    ReadUnsupported(reader, out.n);

    std::vector<Prompt> prompts;
    if (const nlohmann::json* prompt = reader.Require("prompt")) {
      reader.Fail(ReadPrompts(*prompt, &prompts));
    }
    if (reader.ok() && !prompts.empty() && prompts[0].is_tokens &&
        shared.has_add_special_tokens()) {
      reader.Fail(
          "add_special_tokens", kInvalidValue,
          "'add_special_tokens' does not apply to token-id prompts: they are used as given");
    }
    if (!reader.ok()) return reader.status();

    out.generates.reserve(prompts.size());
    for (Prompt& prompt : prompts) {
      v1::GenerateRequest& request = out.generates.emplace_back(shared);
      if (prompt.is_tokens) {
        request.mutable_prompt_token_ids()->mutable_ids()->Add(prompt.token_ids.begin(),
                                                               prompt.token_ids.end());
      } else {
        request.set_prompt(std::move(prompt.text));
      }
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    // The reads above check every type first; reaching this is a bug, not bad input.
    return absl::InternalError(absl::StrCat("reading the request failed: ", e.what()));
  }
}

}  // namespace trustformers::server::openai
