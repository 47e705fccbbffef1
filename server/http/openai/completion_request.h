// POST /v1/completions (the legacy text completions API): the body as one v1::GenerateRequest
// per prompt, plus what the gateway needs to shape the response.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/http/openai/sampling_fields.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

struct CompletionRequest {
  // One Generate call per prompt, identical but for the input. Response choice indices are
  // prompt_index * n + choice index. include_usage is always true (see chat_request.h).
  std::vector<v1::GenerateRequest> generates;
  StreamFlags flags;
  // `logprobs`: how many alternatives per token (0..5); unset: no logprobs.
  std::optional<int32_t> logprobs;
  bool echo = false;
  // Choices per prompt (sampling.n resolved).
  int32_t n = 1;
};

// OpenAI's default max_tokens for completions; chat has none.
inline constexpr int32_t kDefaultCompletionMaxTokens = 16;

// Reads the body (see sampling_fields.h for the shared fields), plus:
// - prompt (required): a string, an array of strings, an array of token ids, or an array of
//   arrays of token ids; none may be empty.
// - max_tokens (default 16, as OpenAI's), logprobs (0..5), echo.
// - suffix: only empty or null (no fill-in-the-middle); best_of: unset or equal to n.
// Errors are INVALID_ARGUMENT with the field as param (see ParamOf), e.g. "prompt[1]".
absl::StatusOr<CompletionRequest> ParseCompletionRequest(const nlohmann::json& body);

}  // namespace trustformers::server::openai
