// BERT's text clean-up before splitting: drop control characters, turn whitespace into spaces, put
// spaces around CJK ideographs, strip accents (NFD, then drop nonspacing marks) and lowercase,
// matching Hugging Face's BertNormalizer step for step, offsets included.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/normalized_string.h"

namespace trustformers::tokenizers {

struct BertNormalizerOptions {
  // Remove NUL, U+FFFD and control/format/private-use characters; map whitespace to ' '.
  bool clean_text = true;
  // Surround each CJK ideograph with spaces so it becomes a word of its own.
  bool handle_chinese_chars = true;
  // Unset: follow `lowercase` (uncased BERT strips accents, cased BERT keeps them).
  std::optional<bool> strip_accents;
  bool lowercase = true;
};

class BertNormalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& options) : options_(options) {}

  // From a tokenizer.json "normalizer" object of type BertNormalizer.
  static absl::StatusOr<BertNormalizer> FromJson(const nlohmann::json& config);

  const BertNormalizerOptions& options() const { return options_; }

  void Normalize(NormalizedString* text) const;

 private:
  BertNormalizerOptions options_;
};

}  // namespace trustformers::tokenizers
