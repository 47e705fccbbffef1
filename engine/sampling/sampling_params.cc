#include "engine/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "tokenizers/utf8.h"

namespace trustformers::engine {
namespace {

// Callers negate it, so NaN falls outside every range.
bool InClosed(float value, float low, float high) { return value >= low && value <= high; }

absl::Status OutOfRange(const char* field, const char* range, float value) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be in ", range, ", got ", value));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size,
                                    int64_t context_room) {
  if (context_room < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the prompt is longer than the model's context by ", -context_room, " tokens"));
  }
  const int32_t min_max_tokens = params.echo_prompt ? 0 : 1;
  if (params.max_tokens < min_max_tokens || params.max_tokens > context_room) {
    if (context_room < min_max_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_tokens must be in [1, the room left in the model's context after the ",
          "prompt], but the prompt fills the context (no room left), got ", params.max_tokens));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "max_tokens must be in [", min_max_tokens, ", ", context_room,
        "] (the room left in the model's context after the prompt",
        params.echo_prompt ? "" : "; 0 only with echo_prompt", "), got ", params.max_tokens));
  }
  if (params.min_tokens < 0 || params.min_tokens > params.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_tokens must be in [0, max_tokens = ", params.max_tokens, "], got ",
                     params.min_tokens));
  }
  if (!InClosed(params.temperature, 0.0f, 2.0f)) {
    return OutOfRange("temperature", "[0, 2]", params.temperature);
  }
  if (params.top_k < 0 || params.top_k > vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be in [0, ", vocab_size, "] (0 disables it), got ", params.top_k));
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    return OutOfRange("top_p", "(0, 1]", params.top_p);
  }
  if (!InClosed(params.min_p, 0.0f, 1.0f)) return OutOfRange("min_p", "[0, 1]", params.min_p);
  if (!(params.typical_p > 0.0f && params.typical_p <= 1.0f)) {
    return OutOfRange("typical_p", "(0, 1]", params.typical_p);
  }
  if (!(params.repetition_penalty > 0.0f) || std::isinf(params.repetition_penalty)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "repetition_penalty must be a finite number > 0, got ", params.repetition_penalty));
  }
  if (!InClosed(params.presence_penalty, -2.0f, 2.0f)) {
    return OutOfRange("presence_penalty", "[-2, 2]", params.presence_penalty);
  }
  if (!InClosed(params.frequency_penalty, -2.0f, 2.0f)) {
    return OutOfRange("frequency_penalty", "[-2, 2]", params.frequency_penalty);
  }
  for (const auto& [token, bias] : params.logit_bias) {
    if (token < 0 || token >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias keys must be token ids in [0, ", vocab_size, "), got ", token));
    }
    if (!InClosed(bias, -100.0f, 100.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logit_bias values must be in [-100, 100], got ", bias, " for token ", token));
    }
  }
  if (params.stop.size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrCat("stop allows at most ", kMaxStopStrings,
                                                   " strings, got ", params.stop.size()));
  }
  for (size_t i = 0; i < params.stop.size(); ++i) {
    const std::string& stop = params.stop[i];
    if (stop.empty() || stop.size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop[", i, "] must be 1 to ", kMaxStopStringBytes, " bytes, got ", stop.size()));
    }
    if (absl::Status utf8 = tokenizers::ValidateUtf8(stop); !utf8.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i, "] must be valid UTF-8: ", utf8.message()));
    }
  }
  if (params.stop_token_ids.size() > kMaxStopTokenIds) {
    return absl::InvalidArgumentError(absl::StrCat("stop_token_ids allows at most ",
                                                   kMaxStopTokenIds, " ids, got ",
                                                   params.stop_token_ids.size()));
  }
  for (int32_t token : params.stop_token_ids) {
    if (token < 0 || token >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop_token_ids must be token ids in [0, ", vocab_size, "), got ", token));
    }
  }
  if (params.logprobs && (*params.logprobs < 0 || *params.logprobs > kMaxLogprobs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("logprobs must be in [0, ", kMaxLogprobs, "], got ", *params.logprobs));
  }
  if (params.n < 0 || params.n > kMaxChoices) {
    return absl::InvalidArgumentError(
        absl::StrCat("n must be in [0, ", kMaxChoices, "] (0 means 1), got ", params.n));
  }
  return absl::OkStatus();
}

std::vector<uint32_t> EndTokenIds(const SamplingParams& params,
                                  std::span<const uint32_t> eos_token_ids) {
  std::vector<uint32_t> ids;
  ids.reserve(params.stop_token_ids.size() + eos_token_ids.size());
  for (int32_t id : params.stop_token_ids) ids.push_back(static_cast<uint32_t>(id));
  if (!params.ignore_eos) ids.insert(ids.end(), eos_token_ids.begin(), eos_token_ids.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace trustformers::engine
