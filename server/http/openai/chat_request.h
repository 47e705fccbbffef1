// POST /v1/chat/completions: the OpenAI request body as a v1::GenerateRequest with `messages`
// input, plus what the gateway needs to shape the response (streaming, logprobs, n).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/http/openai/sampling_fields.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

struct ChatCompletionRequest {
  // include_usage is always true: the gateway needs usage for non-streamed responses and
  // streams it only when `flags.include_usage` asks.
  v1::GenerateRequest generate;
  StreamFlags flags;
  // `logprobs: true`: per-token logprobs in the response, with `top_logprobs` alternatives.
  bool logprobs = false;
  int32_t top_logprobs = 0;
  // Choices per request (sampling.n resolved).
  int32_t n = 1;
};

// Reads the body (see sampling_fields.h for the shared fields), plus:
// - messages (required, non-empty): role system | developer | user | assistant | tool, content
//   as a string or an array of {"type": "text", "text"} parts (concatenated as they are),
//   optional name. "developer" is passed to the chat template as "system": templates know no
//   developer role. Assistant messages may omit content.
// - max_completion_tokens, or its older name max_tokens (both: they must be equal).
// - logprobs (bool), top_logprobs (0..20, needs logprobs: true).
// - response_format: only {"type": "text"}; tools, functions (non-empty), tool_choice and
//   function_call (other than "none"/"auto") are refused as unsupported.
// - add_generation_prompt (bool), chat_template_kwargs (object).
// Errors are INVALID_ARGUMENT with the field as param (see ParamOf), e.g. "messages[2].content".
absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(const nlohmann::json& body);

}  // namespace trustformers::server::openai
