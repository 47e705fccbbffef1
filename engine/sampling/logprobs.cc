#include "engine/sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace trustformers::engine {

absl::Status NonFiniteLogitError(uint32_t id, float value) {
  return absl::InternalError(absl::StrCat("the model produced a non-finite logit (",
                                          std::isnan(value) ? "nan" : "+inf", ") for token ", id,
                                          "; cannot sample"));
}

absl::StatusOr<TokenLogprobs> ComputeLogprobs(std::span<const float> logits, uint32_t token,
                                              int32_t num_top) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const size_t keep = std::min(logits.size(), static_cast<size_t>(std::max(num_top, 0)));
  TokenLogprobs result;
  // The best `keep` so far as (logit, id), most likely first. A later id never displaces an
  // equal logit, which gives the ascending-id order of ties for free.
  std::vector<TopLogprob>& top = result.top;
  top.reserve(keep);
  float max = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (!(v < kInf)) return NonFiniteLogitError(static_cast<uint32_t>(i), v);
    max = std::max(max, v);
    if (keep == 0 || (top.size() == keep && !(v > top.back().logprob))) continue;
    if (top.size() < keep) top.push_back({});
    size_t j = top.size() - 1;
    for (; j > 0 && top[j - 1].logprob < v; --j) top[j] = top[j - 1];
    top[j] = {static_cast<uint32_t>(i), v};
  }
  if (max == -kInf) {
    return absl::FailedPreconditionError(
        "every logit the model produced is -inf; there is no distribution to report");
  }
  double sum = 0.0;
  for (float v : logits) sum += std::exp(v - max);
  const double log_norm = static_cast<double>(max) + std::log(sum);
  result.logprob = static_cast<float>(logits[token] - log_norm);
  for (TopLogprob& t : top) t.logprob = static_cast<float>(t.logprob - log_norm);
  return result;
}

}  // namespace trustformers::engine
