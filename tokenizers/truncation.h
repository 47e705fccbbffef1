// Cutting encodings down to a maximum length before the special tokens go in, with Hugging Face's
// strategies: LongestFirst trims the longer of a pair first, OnlyFirst / OnlySecond trim one side.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/encoding.h"

namespace trustformers::tokenizers {

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };

struct TruncationParams {
  // Tokens in the final encoding, special tokens included.
  size_t max_length = 512;
  TruncationStrategy strategy = TruncationStrategy::kLongestFirst;
  // Overlap between the overflowing windows in Hugging Face. Overflowing windows are not
  // returned here, so it is only checked: it must be smaller than the length truncated to.
  size_t stride = 0;
  // Which end loses tokens.
  Side direction = Side::kRight;
};

// From tokenizer.json's "truncation" object.
absl::StatusOr<TruncationParams> ParseTruncation(const nlohmann::json& config);

// Trims `a` and `b` (nullptr for a single input) to at most params.max_length tokens together
// (the caller has already taken off the special tokens the post-processor will add).
// INVALID_ARGUMENT when the strategy cannot be met: OnlySecond without a second sequence, the
// trimmed sequence too short to lose enough tokens, or a stride that is not below the length.
absl::Status Truncate(const TruncationParams& params, Encoding* a, Encoding* b);

}  // namespace trustformers::tokenizers
