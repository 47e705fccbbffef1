// The WordPiece model: splits one word into the longest vocabulary entries from the left, later
// pieces carrying the continuing-subword prefix ("##"); a word it cannot cover, or one longer than
// max_input_chars_per_word, becomes the single unknown token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace trustformers::tokenizers {

class WordPiece {
 public:
  struct Options {
    std::string unk_token = "[UNK]";
    std::string continuing_subword_prefix = "##";
    // Counted in code points.
    size_t max_input_chars_per_word = 100;
  };
  // One token of a word: its id, its vocabulary string and the bytes [begin, end) of the word it
  // covers.
  struct Piece {
    uint32_t id = 0;
    const std::string* token = nullptr;
    size_t begin = 0;
    size_t end = 0;
  };
  // Vocabulary string -> id, looked up by string_view without a copy.
  struct VocabHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Vocab = std::unordered_map<std::string, uint32_t, VocabHash, std::equal_to<>>;

  WordPiece(Vocab vocab, Options options);

  // From a tokenizer.json "model" object of type WordPiece.
  static absl::StatusOr<std::unique_ptr<WordPiece>> FromJson(const nlohmann::json& config);

  // Appends the pieces of `word` (valid, non-empty UTF-8). FAILED_PRECONDITION when the word
  // needs the unknown token and the vocabulary lacks it.
  absl::Status Tokenize(absl::string_view word, std::vector<Piece>* pieces) const;

  std::optional<uint32_t> TokenToId(absl::string_view token) const;
  // nullptr for an id outside the vocabulary. Where several strings share an id, the smallest.
  const std::string* IdToToken(uint32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }
  const Options& options() const { return options_; }

 private:
  absl::Status AppendUnknown(absl::string_view word, std::vector<Piece>* pieces) const;

  Vocab vocab_;
  std::unordered_map<uint32_t, const std::string*> tokens_by_id_;
  Options options_;
  // Longest vocabulary string, in bytes: no longer candidate needs a lookup.
  size_t longest_token_ = 0;
};

}  // namespace trustformers::tokenizers
