// Decides when one choice of a Generate request ends and which of its text may be sent, token by
// token: end tokens (stop_token_ids, and the model's end-of-sequence ids unless ignore_eos), stop
// strings, max_tokens, and min_tokens holding the first two back.
//
// min_tokens: the sampler masks end tokens while fewer than min_tokens tokens were generated, so
// an end token can be token min_tokens + 1 at the earliest; a stop string counts once the token
// that completes it is token min_tokens or later. Either way the choice keeps at least min_tokens
// tokens before its end.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling/sampling_params.h"
#include "engine/sampling/stop_matcher.h"

namespace trustformers::engine {

enum class FinishReason {
  kNone,
  // An end token (end-of-sequence or stop_token_ids).
  kStop,
  // max_tokens reached (or, through Finish, the context is full).
  kLength,
  // A stop string; see StepOutput::matched_stop.
  kStopSequence,
};

struct StepOutput {
  // New text to send for the choice: whole UTF-8 characters, possibly empty.
  std::string text;
  FinishReason finish = FinishReason::kNone;
  // The stop string that ended the choice, with kStopSequence.
  std::optional<std::string> matched_stop;
};

class StopChecker {
 public:
  // `params` must be valid; `eos_token_ids`: the model's end-of-sequence ids.
  StopChecker(const SamplingParams& params, std::span<const uint32_t> eos_token_ids);

  // Takes the next generated token and its text: whole UTF-8 characters, empty while the
  // detokenizer holds the bytes of an unfinished character or for a special token it skips.
  // Call for every generated token, the ending one included, until the result is finished;
  // later calls return nothing. An ending end token's text is not sent.
  StepOutput Step(uint32_t token, std::string_view text);

  // Ends the choice for a reason outside the tokens (context full: kLength); returns the text
  // held back. Nothing after a finish.
  StepOutput Finish(FinishReason reason);

  bool finished() const { return finished_; }
  // Tokens taken so far (the ending one included): the choice's completion_tokens.
  int32_t generated() const { return generated_; }

 private:
  bool IsEndToken(uint32_t token) const;

  std::vector<uint32_t> end_ids_;
  StopMatcher matcher_;
  int32_t max_tokens_;
  int32_t min_tokens_;
  int32_t generated_ = 0;
  bool finished_ = false;
};

}  // namespace trustformers::engine
