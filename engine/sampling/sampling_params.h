// How one Generate request chooses its tokens: the engine's mirror of trustformers.v1
// SamplingParams, with every optional field already resolved (the request's value, else the
// model's generation_config value, else the proto's default) by the server layer, which owns the
// proto conversion. The engine never sees the proto.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace trustformers::engine {

struct SamplingParams {
  // Tokens to generate per choice at most. No default here: an unset request value means the
  // room left in the context, which only the caller knows. 0 only with echo_prompt.
  int32_t max_tokens = 0;
  // End tokens are masked and stop strings ignored until this many tokens were generated.
  int32_t min_tokens = 0;
  // 0 means greedy (the filters below are then ignored).
  float temperature = 1.0f;
  // 0 disables.
  int32_t top_k = 0;
  // 1 disables.
  float top_p = 1.0f;
  // 0 disables.
  float min_p = 0.0f;
  // 1 disables.
  float typical_p = 1.0f;
  // 1 disables.
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Token id -> value added to its logit. Ordered so validation reports the same key every time.
  std::map<int32_t, float> logit_bias;
  // An unset request seed resolves to a random one (see RandomSeed in engine/sampling/rng.h).
  uint64_t seed = 0;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Unset: no logprobs; otherwise how many alternatives per token.
  std::optional<int32_t> logprobs;
  bool echo_prompt = false;
  // 0 means 1, as in the proto; see NumChoices.
  int32_t n = 0;
  bool skip_special_tokens = true;
};

// Limits the proto states.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;
inline constexpr size_t kMaxStopTokenIds = 64;
inline constexpr int32_t kMaxLogprobs = 20;
inline constexpr int32_t kMaxChoices = 16;

// OK, or INVALID_ARGUMENT naming the first offending field and its allowed range, as the proto
// comments state. `context_room` is the model's context length minus the prompt's tokens.
absl::Status ValidateSamplingParams(const SamplingParams& params, int32_t vocab_size,
                                    int64_t context_room);

// Choices the request asks for (n, where 0 means 1).
inline int32_t NumChoices(const SamplingParams& params) { return params.n == 0 ? 1 : params.n; }

// The tokens that end a choice: stop_token_ids, plus the model's end-of-sequence ids unless
// ignore_eos. Sorted, without duplicates. `params` must be valid.
std::vector<uint32_t> EndTokenIds(const SamplingParams& params,
                                  std::span<const uint32_t> eos_token_ids);

}  // namespace trustformers::engine
