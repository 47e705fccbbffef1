// Padding encodings to a common length (a fixed one, or the longest in the batch, optionally
// rounded up to a multiple), with Hugging Face's pad id, type id, token and side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/encoding.h"

namespace trustformers::tokenizers {

enum class PaddingStrategy { kBatchLongest, kFixed };

struct PaddingParams {
  PaddingStrategy strategy = PaddingStrategy::kBatchLongest;
  // The length for kFixed.
  size_t fixed_length = 0;
  Side direction = Side::kRight;
  // Round the length up to a multiple of this; 0 leaves it as is.
  size_t pad_to_multiple_of = 0;
  uint32_t pad_id = 0;
  uint32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

// Longest padded length accepted, so a bad setting cannot demand unbounded memory.
inline constexpr size_t kMaxPaddingLength = size_t{1} << 20;

// From tokenizer.json's "padding" object (checked with ValidatePadding).
absl::StatusOr<PaddingParams> ParsePadding(const nlohmann::json& config);

// INVALID_ARGUMENT when the fixed length or the multiple exceeds kMaxPaddingLength.
absl::Status ValidatePadding(const PaddingParams& params);

// Pads every encoding shorter than the target length; longer ones are left alone. Pad tokens get
// offsets (0, 0), special_tokens_mask 1 and attention_mask 0.
void Pad(const PaddingParams& params, std::span<Encoding> encodings);

}  // namespace trustformers::tokenizers
