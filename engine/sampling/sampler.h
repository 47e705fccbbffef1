// Chooses the tokens of one choice of a Generate request, one step at a time, from the model's
// logits for that step. One Sampler per choice: it owns the choice's random stream and the
// token history its penalties need. Not thread-safe; the scheduler's owner thread drives it.
//
// Each step processes the logits in the proto's order (logit_bias, repetition penalty, presence
// and frequency penalties, end tokens masked before min_tokens, temperature, top_k, top_p, min_p,
// typical_p) and draws from what is left. Temperature 0 is greedy: the largest processed logit,
// the lowest id among equals, filters ignored, in one pass over the vocabulary (two when the
// raw winner is itself biased or penalized).
//
// The working buffers for a step (vocabulary-sized) are per thread and shared by every sampler
// on it, so a sampler itself costs only its penalty state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/logit_adjuster.h"
#include "engine/sampling/logprobs.h"
#include "engine/sampling/rng.h"
#include "engine/sampling/sampling_params.h"

namespace trustformers::engine {

struct SampledToken {
  uint32_t id = 0;
  // Only with params.logprobs set: the token's logprob and that many alternatives (see
  // ComputeLogprobs); otherwise 0 and empty.
  float logprob = 0.0f;
  std::vector<TopLogprob> top;
};

class Sampler {
 public:
  // `params` must have passed ValidateSamplingParams for `vocab_size`. `eos_token_ids`: the
  // model's end-of-sequence ids (masked before min_tokens unless ignore_eos). `choice_index`
  // selects the random stream: choice i draws from (params.seed, i).
  Sampler(const SamplingParams& params, int32_t vocab_size, std::span<const uint32_t> eos_token_ids,
          uint32_t choice_index);

  // The prompt's tokens, for the repetition penalty. Call once, before the first step.
  void SetPrompt(std::span<const uint32_t> prompt) { adjuster_.SetPrompt(prompt); }

  // Chooses the next token from `logits` (one per vocabulary entry) and records it as generated.
  // INTERNAL when a logit is NaN or +inf or the size is not the vocabulary's;
  // FAILED_PRECONDITION when no token is left to choose (every logit -inf after processing).
  // Nothing is recorded on error.
  absl::StatusOr<SampledToken> Sample(std::span<const float> logits);

  // Records a token chosen elsewhere (forced or replayed) as generated, for the penalties and
  // min_tokens. Sample already does this for its own tokens.
  void Accept(uint32_t token) { adjuster_.Accept(token); }

  // Tokens generated so far.
  int32_t generated() const { return adjuster_.generated(); }

  // The logits this step would draw from, one per vocabulary entry, -inf where filtered out;
  // for tests and debugging (allocates). With temperature > 0 they are shifted so the largest
  // is 0, which changes no probability. Draws nothing and records nothing.
  absl::StatusOr<std::vector<float>> ProcessedLogits(std::span<const float> logits) const;

 private:
  // Fills the thread's candidate list with what survives processing, in id order.
  absl::Status Process(std::span<const float> logits) const;
  absl::StatusOr<uint32_t> Greedy(std::span<const float> logits) const;
  uint32_t Draw();

  // The fields of SamplingParams the draw needs; the adjuster holds the rest it uses.
  float temperature_;
  int32_t top_k_;
  float top_p_;
  float min_p_;
  float typical_p_;
  std::optional<int32_t> logprobs_;
  int32_t vocab_size_;
  LogitAdjuster adjuster_;
  Rng rng_;
};

}  // namespace trustformers::engine
