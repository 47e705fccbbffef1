// The token-specific part of logits processing, in the proto's order: logit_bias, the
// repetition penalty (prompt and output tokens), presence and frequency penalties (output tokens
// only), then end tokens masked to -inf until min_tokens were generated. Each of these touches
// only the tokens it names, so the adjuster keeps them as sparse sets and the sampler applies
// them to a handful of ids instead of rewriting the whole vocabulary every step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/sampling/sampling_params.h"

namespace trustformers::engine {

class LogitAdjuster {
 public:
  // `params` must be valid; `end_token_ids` as from EndTokenIds (sorted).
  LogitAdjuster(const SamplingParams& params, std::vector<uint32_t> end_token_ids);

  // The prompt's tokens count for the repetition penalty. Call once, before the first step.
  void SetPrompt(std::span<const uint32_t> prompt);
  // Records a generated token.
  void Accept(uint32_t token);
  int32_t generated() const { return generated_; }

  // Whether Adjust can change token `id`'s logit at this step.
  bool Touches(uint32_t id) const {
    return bias_.contains(id) || seen_.contains(id) || counts_.contains(id) ||
           (MaskingEndTokens() && std::binary_search(end_ids_.begin(), end_ids_.end(), id));
  }

  // Token `id`'s logit after every adjustment, from its raw logit.
  float Adjust(uint32_t id, float raw) const;

  // Calls f(id) for every id Touches is true for, some possibly more than once (Adjust is
  // computed from the raw logit, so repeating it is harmless).
  template <typename F>
  void ForEachTouched(F&& f) const {
    for (const auto& entry : bias_) f(entry.first);
    for (uint32_t id : seen_) f(id);
    for (const auto& entry : counts_) f(entry.first);
    if (MaskingEndTokens()) {
      for (uint32_t id : end_ids_) f(id);
    }
  }

 private:
  bool MaskingEndTokens() const { return generated_ < min_tokens_; }

  absl::flat_hash_map<uint32_t, float> bias_;
  // Prompt and output tokens; only tracked when the repetition penalty is on.
  absl::flat_hash_set<uint32_t> seen_;
  // Output token -> times generated; only tracked when a presence or frequency penalty is on.
  absl::flat_hash_map<uint32_t, int32_t> counts_;
  std::vector<uint32_t> end_ids_;
  float repetition_penalty_;
  float presence_penalty_;
  float frequency_penalty_;
  int32_t min_tokens_;
  int32_t generated_ = 0;
};

}  // namespace trustformers::engine
