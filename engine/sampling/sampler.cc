#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/sampling/logits_processors.h"

namespace trustformers::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Workspace {
  std::vector<Candidate> candidates;
  FilterScratch filters;
};

// Vocabulary-sized buffers, kept per thread: one set serves every sampler the thread drives,
// instead of one per sequence.
Workspace& ThreadWorkspace() {
  thread_local Workspace workspace;
  return workspace;
}

absl::Status NothingLeftError() {
  return absl::FailedPreconditionError(
      "no token can be chosen: every logit is -inf after logit_bias, penalties and the masking "
      "of end tokens before min_tokens");
}

absl::Status CheckSize(std::span<const float> logits, int32_t vocab_size) {
  if (logits.size() == static_cast<size_t>(vocab_size)) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("the sampler expects ", vocab_size,
                                          " logits (the vocabulary), got ", logits.size()));
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size,
                 std::span<const uint32_t> eos_token_ids, uint32_t choice_index)
    : temperature_(params.temperature),
      top_k_(params.top_k),
      top_p_(params.top_p),
      min_p_(params.min_p),
      typical_p_(params.typical_p),
      logprobs_(params.logprobs),
      vocab_size_(vocab_size),
      adjuster_(params, EndTokenIds(params, eos_token_ids)),
      rng_(params.seed, choice_index) {}

absl::StatusOr<SampledToken> Sampler::Sample(std::span<const float> logits) {
  if (absl::Status size = CheckSize(logits, vocab_size_); !size.ok()) return size;
  SampledToken token;
  if (temperature_ == 0.0f) {
    absl::StatusOr<uint32_t> id = Greedy(logits);
    if (!id.ok()) return id.status();
    token.id = *id;
  } else {
    if (absl::Status status = Process(logits); !status.ok()) return status;
    token.id = Draw();
  }
  if (logprobs_) {
    absl::StatusOr<TokenLogprobs> logprobs = ComputeLogprobs(logits, token.id, *logprobs_);
    if (!logprobs.ok()) return logprobs.status();
    token.logprob = logprobs->logprob;
    token.top = std::move(logprobs->top);
  }
  adjuster_.Accept(token.id);
  return token;
}

absl::StatusOr<uint32_t> Sampler::Greedy(std::span<const float> logits) const {
  uint32_t best = 0;
  float best_logit = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (!(v < kInf)) return NonFiniteLogitError(static_cast<uint32_t>(i), v);
    if (v > best_logit) {
      best_logit = v;
      best = static_cast<uint32_t>(i);
    }
  }
  const auto consider = [&](uint32_t id, float logit) {
    if (logit > best_logit || (logit == best_logit && id < best)) {
      best_logit = logit;
      best = id;
    }
  };
  if (!adjuster_.Touches(best)) {
    // Untouched tokens keep their raw logits, none above the raw maximum (nor equal with a lower
    // id), so only the adjusted ones can win over it.
    adjuster_.ForEachTouched([&](uint32_t id) { consider(id, adjuster_.Adjust(id, logits[id])); });
  } else {
    // The raw winner itself was adjusted (typically: repetition-penalized after being chosen
    // before), so the new winner could be anywhere: a second pass, over an adjusted copy.
    std::vector<float>& adjusted = ThreadWorkspace().filters.keys;
    adjusted.assign(logits.begin(), logits.end());
    adjuster_.ForEachTouched([&](uint32_t id) { adjusted[id] = adjuster_.Adjust(id, logits[id]); });
    best = 0;
    best_logit = -kInf;
    for (size_t i = 0; i < adjusted.size(); ++i) {
      if (adjusted[i] > best_logit) {
        best_logit = adjusted[i];
        best = static_cast<uint32_t>(i);
      }
    }
  }
  if (best_logit == -kInf) return NothingLeftError();
  return best;
}

absl::Status Sampler::Process(std::span<const float> logits) const {
  Workspace& workspace = ThreadWorkspace();
  std::vector<Candidate>& candidates = workspace.candidates;
  candidates.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (!(v < kInf)) return NonFiniteLogitError(static_cast<uint32_t>(i), v);
    candidates[i] = {v, static_cast<uint32_t>(i)};
  }
  adjuster_.ForEachTouched(
      [&](uint32_t id) { candidates[id].logit = adjuster_.Adjust(id, logits[id]); });
  candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                  [](const Candidate& c) { return c.logit == -kInf; }),
                   candidates.end());
  if (candidates.empty()) return NothingLeftError();
  if (temperature_ == 0.0f) return absl::OkStatus();
  ApplyTemperature(candidates, temperature_);
  ApplyTopK(candidates, top_k_, workspace.filters);
  ApplyTopP(candidates, top_p_, workspace.filters);
  ApplyMinP(candidates, min_p_);
  ApplyTypicalP(candidates, typical_p_, workspace.filters);
  return absl::OkStatus();
}

uint32_t Sampler::Draw() {
  Workspace& workspace = ThreadWorkspace();
  const std::vector<Candidate>& candidates = workspace.candidates;
  std::vector<float>& weights = workspace.filters.weights;
  weights.resize(candidates.size());
  float max = -kInf;
  for (const Candidate& c : candidates) max = std::max(max, c.logit);
  double total = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    weights[i] = std::exp(candidates[i].logit - max);
    total += weights[i];
  }
  // Inverse CDF over the candidates in id order, summed exactly as `total` was.
  const double target = rng_.Uniform() * total;
  double cumulative = 0.0;
  uint32_t last_possible = candidates.front().id;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (weights[i] == 0.0f) continue;
    cumulative += weights[i];
    if (cumulative > target) return candidates[i].id;
    last_possible = candidates[i].id;
  }
  // target rounded up to total: the last token with any weight.
  return last_possible;
}

absl::StatusOr<std::vector<float>> Sampler::ProcessedLogits(std::span<const float> logits) const {
  if (absl::Status size = CheckSize(logits, vocab_size_); !size.ok()) return size;
  if (absl::Status status = Process(logits); !status.ok()) return status;
  std::vector<float> processed(logits.size(), -kInf);
  for (const Candidate& c : ThreadWorkspace().candidates) processed[c.id] = c.logit;
  return processed;
}

}  // namespace trustformers::engine
