// Log-probabilities as the API reports them: the log-softmax of the model's raw logits (before
// logit_bias, penalties, temperature and filters), for one token plus the most likely
// alternatives. Also serves echoed prompt tokens, which are never sampled.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::engine {

struct TopLogprob {
  uint32_t id = 0;
  float logprob = 0.0f;
  friend bool operator==(const TopLogprob&, const TopLogprob&) = default;
};

struct TokenLogprobs {
  float logprob = 0.0f;
  // Most likely first; equal logprobs by ascending id.
  std::vector<TopLogprob> top;
};

// `token`'s logprob under `logits` and the `num_top` most likely tokens (fewer when the
// vocabulary is smaller). INTERNAL when a logit is NaN or +inf, FAILED_PRECONDITION when every
// logit is -inf. `token` must be below logits.size(). Two passes over the vocabulary.
absl::StatusOr<TokenLogprobs> ComputeLogprobs(std::span<const float> logits, uint32_t token,
                                              int32_t num_top);

// The error for a NaN or +inf logit at `id`, shared with the sampler so both say the same.
absl::Status NonFiniteLogitError(uint32_t id, float value);

}  // namespace trustformers::engine
