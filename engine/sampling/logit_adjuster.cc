#include "engine/sampling/logit_adjuster.h"

#include <limits>
#include <utility>

namespace trustformers::engine {

LogitAdjuster::LogitAdjuster(const SamplingParams& params, std::vector<uint32_t> end_token_ids)
    : end_ids_(std::move(end_token_ids)),
      repetition_penalty_(params.repetition_penalty),
      presence_penalty_(params.presence_penalty),
      frequency_penalty_(params.frequency_penalty),
      min_tokens_(params.min_tokens) {
  for (const auto& [token, bias] : params.logit_bias) {
    // A zero bias changes nothing; leaving it out keeps the greedy fast path available.
    if (bias != 0.0f) bias_[static_cast<uint32_t>(token)] = bias;
  }
}

void LogitAdjuster::SetPrompt(std::span<const uint32_t> prompt) {
  if (repetition_penalty_ == 1.0f) return;
  seen_.insert(prompt.begin(), prompt.end());
}

void LogitAdjuster::Accept(uint32_t token) {
  ++generated_;
  if (repetition_penalty_ != 1.0f) seen_.insert(token);
  if (presence_penalty_ != 0.0f || frequency_penalty_ != 0.0f) ++counts_[token];
}

float LogitAdjuster::Adjust(uint32_t id, float raw) const {
  float logit = raw;
  if (auto it = bias_.find(id); it != bias_.end()) logit += it->second;
  if (seen_.contains(id)) {
    // Dividing a negative logit would raise it, so negative ones are multiplied instead.
    logit = logit < 0.0f ? logit * repetition_penalty_ : logit / repetition_penalty_;
  }
  if (auto it = counts_.find(id); it != counts_.end()) {
    logit -= presence_penalty_ + frequency_penalty_ * static_cast<float>(it->second);
  }
  if (MaskingEndTokens() && std::binary_search(end_ids_.begin(), end_ids_.end(), id)) {
    logit = -std::numeric_limits<float>::infinity();
  }
  return logit;
}

}  // namespace trustformers::engine
