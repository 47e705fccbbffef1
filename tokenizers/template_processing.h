// Post-processing for BERT-style models: wraps the token sequences in special tokens
// ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1") and sets their type ids, as tokenizer.json's
// TemplateProcessing describes. The older BertProcessing is read into the same form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/encoding.h"

namespace trustformers::tokenizers {

class TemplateProcessing {
 public:
  struct Piece {
    enum class Kind { kSequenceA, kSequenceB, kSpecialToken };
    Kind kind = Kind::kSequenceA;
    // Key into special_tokens() when kind is kSpecialToken.
    std::string special_token;
    uint32_t type_id = 0;
  };
  // What one template special token expands to (usually one id and its string).
  struct SpecialToken {
    std::vector<uint32_t> ids;
    std::vector<std::string> tokens;
  };

  // From a tokenizer.json "post_processor" of type TemplateProcessing or BertProcessing; checks
  // that every special token the templates name exists and that the pair template uses $A and $B.
  static absl::StatusOr<TemplateProcessing> FromJson(const nlohmann::json& config);

  // Special tokens a template adds: subtracted from max_length before truncating.
  size_t AddedTokens(bool pair) const;

  // The single template (b == nullptr) or the pair template applied to `a` and `b`. Without
  // special tokens the sequences are only concatenated, still with the template's type ids.
  Encoding Apply(const Encoding& a, const Encoding* b, bool add_special_tokens) const;

  const std::map<std::string, SpecialToken>& special_tokens() const { return special_tokens_; }
  // The template for one sequence.
  const std::vector<Piece>& single() const { return single_; }

 private:
  std::vector<Piece> single_;
  std::vector<Piece> pair_;
  std::map<std::string, SpecialToken> special_tokens_;
};

}  // namespace trustformers::tokenizers
