#include "engine/sampling/stop_checker.h"

#include <algorithm>
#include <utility>

namespace trustformers::engine {

StopChecker::StopChecker(const SamplingParams& params, std::span<const uint32_t> eos_token_ids)
    : end_ids_(EndTokenIds(params, eos_token_ids)),
      matcher_(params.stop),
      max_tokens_(params.max_tokens),
      min_tokens_(params.min_tokens) {}

bool StopChecker::IsEndToken(uint32_t token) const {
  return std::binary_search(end_ids_.begin(), end_ids_.end(), token);
}

StepOutput StopChecker::Step(uint32_t token, std::string_view text) {
  StepOutput out;
  if (finished_) return out;
  const int32_t before = generated_++;
  if (before >= min_tokens_ && IsEndToken(token)) {
    out.text = matcher_.Flush();
    out.finish = FinishReason::kStop;
    finished_ = true;
    return out;
  }
  StopMatcher::Result pushed = matcher_.Push(text, generated_ >= min_tokens_);
  out.text = std::move(pushed.text);
  if (pushed.matched) {
    out.finish = FinishReason::kStopSequence;
    out.matched_stop = matcher_.stops()[*pushed.matched];
    finished_ = true;
  } else if (generated_ >= max_tokens_) {
    out.text += matcher_.Flush();
    out.finish = FinishReason::kLength;
    finished_ = true;
  }
  return out;
}

StepOutput StopChecker::Finish(FinishReason reason) {
  StepOutput out;
  if (finished_) return out;
  out.text = matcher_.Flush();
  out.finish = reason;
  finished_ = true;
  return out;
}

}  // namespace trustformers::engine
