// Tokens declared in tokenizer.json's "added_tokens" ([CLS], [MASK], user additions): found in the
// text before the model sees it, leftmost-longest, and emitted whole. Tokens marked "normalized"
// are matched in the normalised text, the others in the raw input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace trustformers::tokenizers {

struct AddedToken {
  std::string content;
  // Only match where neither neighbour is a word character.
  bool single_word = false;
  // Absorb the whitespace before / after a match into it.
  bool lstrip = false;
  bool rstrip = false;
  // Match in the normalised text (content normalised the same way) rather than the raw input.
  bool normalized = true;
  // Dropped by Decode(skip_special_tokens = true).
  bool special = false;
};

class AddedVocabulary {
 public:
  // A match: the bytes [begin, end) of the searched text, and the token's id.
  struct Match {
    size_t begin = 0;
    size_t end = 0;
    uint32_t id = 0;
  };

  // Ids come from the model's vocabulary (`model_token_to_id`) where the content is there,
  // otherwise the next ids after it (from `model_vocab_size`), in order (as Hugging Face assigns
  // them; tokenizer.json's "id" fields are not used). `normalize` gives the normalised form of a
  // "normalized" token's content.
  AddedVocabulary(
      std::vector<AddedToken> tokens,
      const std::function<std::optional<uint32_t>(absl::string_view)>& model_token_to_id,
      size_t model_vocab_size, const std::function<std::string(absl::string_view)>& normalize);
  ~AddedVocabulary();

  // Parses tokenizer.json's "added_tokens" array.
  static absl::StatusOr<std::vector<AddedToken>> ParseJson(const nlohmann::json& config);

  // Non-overlapping matches in `text` (valid UTF-8) of the tokens whose `normalized` flag equals
  // `normalized`, in order; special tokens only with `include_special`.
  std::vector<Match> FindMatches(absl::string_view text, bool normalized,
                                 bool include_special = true) const;

  std::optional<uint32_t> TokenToId(absl::string_view content) const;
  // The token's string as Decode sees it (normalised form for normalised tokens), or nullptr.
  const std::string* IdToToken(uint32_t id) const;
  // The declaration behind `id`, or nullptr.
  const AddedToken* Find(uint32_t id) const;
  bool IsSpecial(absl::string_view token) const;
  // Contents not in the model's vocabulary (they enlarge the vocabulary).
  size_t new_token_count() const { return new_token_count_; }
  bool empty() const { return entries_.empty(); }

 private:
  class Trie;
  struct Entry {
    AddedToken token;
    uint32_t id = 0;
    std::string decoded;
  };

  std::vector<Entry> entries_;
  std::unordered_map<std::string, uint32_t> ids_by_content_;
  // Ordered so that rebuilding the tries is deterministic.
  std::map<uint32_t, size_t> entry_by_id_;
  std::set<std::string, std::less<>> special_contents_;
  // Indexed [normalized][include_special].
  std::unique_ptr<Trie> tries_[2][2];
  size_t new_token_count_ = 0;
};

}  // namespace trustformers::tokenizers
