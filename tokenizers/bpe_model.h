// The BPE model: one pre-tokenized piece to token ids by merge ranks. The piece starts as one
// symbol per character; the adjacent pair whose merge comes first in the merge list is merged
// (the leftmost where a pair occurs several times), and so on until no pair has a merge. Ties and
// stale pairs are handled as Hugging Face `tokenizers` does, so ids match it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

class BpeModel {
 public:
  struct Options {
    // Stands for characters the vocabulary lacks; without it they are dropped.
    std::optional<std::string> unk_token;
    // Consecutive unknown characters become one unknown token.
    bool fuse_unk = false;
    // Characters the vocabulary lacks become their UTF-8 bytes as "<0xAB>" tokens, where all exist.
    bool byte_fallback = false;
    // A piece that is itself in the vocabulary is one token, whatever the merges would make.
    bool ignore_merges = false;
    // Marks symbols that do not start a piece ("##") and the piece's last symbol ("</w>").
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
  };
  struct VocabHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Vocab = std::unordered_map<std::string, uint32_t, VocabHash, std::equal_to<>>;

  // INVALID_ARGUMENT naming the merge when one of its parts, or what it makes, is not in the
  // vocabulary, or when the unknown token is not. Where a pair is listed twice, the first rank
  // counts.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, Options options);

  // Appends the ids of `piece` (valid UTF-8).
  void Tokenize(absl::string_view piece, std::vector<uint32_t>* ids) const;

  std::optional<uint32_t> TokenToId(absl::string_view token) const;
  const Vocab& vocab() const { return vocab_; }
  size_t merge_count() const { return merges_.size(); }
  const Options& options() const { return options_; }

 private:
  struct Merge {
    uint32_t rank = 0;
    uint32_t new_id = 0;
  };
  static uint64_t PairKey(uint32_t left, uint32_t right) {
    return (static_cast<uint64_t>(left) << 32) | right;
  }
  const Merge* FindMerge(uint32_t left, uint32_t right) const;

  BpeModel() = default;

  Vocab vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  Options options_;
  std::optional<uint32_t> unk_id_;
};

}  // namespace trustformers::tokenizers
