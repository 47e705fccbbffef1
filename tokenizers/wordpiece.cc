#include "tokenizers/wordpiece.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"

namespace trustformers::tokenizers {
namespace {

std::string_view StdView(absl::string_view s) { return std::string_view(s.data(), s.size()); }

bool IsContinuationByte(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

}  // namespace

WordPiece::WordPiece(Vocab vocab, Options options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  tokens_by_id_.reserve(vocab_.size());
  for (const auto& [token, id] : vocab_) {
    auto [it, inserted] = tokens_by_id_.emplace(id, &token);
    if (!inserted && token < *it->second) it->second = &token;
    longest_token_ = std::max(longest_token_, token.size());
  }
}

absl::StatusOr<std::unique_ptr<WordPiece>> WordPiece::FromJson(const nlohmann::json& config) {
  constexpr absl::string_view kPath = "model";
  Options options;
  absl::StatusOr<std::string> unk_token = ReadString(config, kPath, "unk_token");
  if (!unk_token.ok()) return unk_token.status();
  absl::StatusOr<std::string> prefix = ReadString(config, kPath, "continuing_subword_prefix");
  if (!prefix.ok()) return prefix.status();
  absl::StatusOr<size_t> max_chars = ReadSize(config, kPath, "max_input_chars_per_word");
  if (!max_chars.ok()) return max_chars.status();
  absl::StatusOr<const nlohmann::json*> vocab_json = RequiredField(config, kPath, "vocab");
  if (!vocab_json.ok()) return vocab_json.status();
  if (!(*vocab_json)->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.vocab must be an object of token -> id, not ", DescribeJsonType(**vocab_json)));
  }
  Vocab vocab;
  vocab.reserve((*vocab_json)->size());
  for (const auto& [token, id_json] : (*vocab_json)->items()) {
    absl::StatusOr<uint32_t> id = AsUint32(id_json, absl::StrCat("model.vocab[\"", token, "\"]"));
    if (!id.ok()) return id.status();
    vocab.emplace(token, *id);
  }
  options.unk_token = *std::move(unk_token);
  options.continuing_subword_prefix = *std::move(prefix);
  options.max_input_chars_per_word = *max_chars;
  return std::make_unique<WordPiece>(std::move(vocab), std::move(options));
}

absl::Status WordPiece::AppendUnknown(absl::string_view word, std::vector<Piece>* pieces) const {
  auto it = vocab_.find(StdView(options_.unk_token));
  if (it == vocab_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("WordPiece: the word '", word, "' needs the unknown token '",
                     options_.unk_token, "', which is not in the vocabulary"));
  }
  pieces->push_back({it->second, &it->first, 0, word.size()});
  return absl::OkStatus();
}

absl::Status WordPiece::Tokenize(absl::string_view word, std::vector<Piece>* pieces) const {
  const size_t chars = static_cast<size_t>(
      std::count_if(word.begin(), word.end(), [](char b) { return !IsContinuationByte(b); }));
  if (chars > options_.max_input_chars_per_word) return AppendUnknown(word, pieces);

  const size_t first_piece = pieces->size();
  const std::string& prefix = options_.continuing_subword_prefix;
  std::string candidate;
  size_t start = 0;
  while (start < word.size()) {
    // Longest first; candidates longer than any vocabulary string cannot match.
    const size_t prefix_size = start > 0 ? prefix.size() : 0;
    size_t end = word.size();
    if (longest_token_ < prefix_size) {
      end = start;
    } else if (end - start > longest_token_ - prefix_size) {
      end = start + (longest_token_ - prefix_size);
      while (end > start && IsContinuationByte(word[end])) --end;
    }
    bool found = false;
    while (start < end) {
      const absl::string_view piece = word.substr(start, end - start);
      Vocab::const_iterator it;
      if (start == 0) {
        it = vocab_.find(StdView(piece));
      } else {
        candidate.assign(prefix);
        candidate.append(piece.data(), piece.size());
        it = vocab_.find(std::string_view(candidate));
      }
      if (it != vocab_.end()) {
        pieces->push_back({it->second, &it->first, start, end});
        found = true;
        break;
      }
      do {
        --end;
      } while (end > start && IsContinuationByte(word[end]));
    }
    if (!found) {
      pieces->resize(first_piece);
      return AppendUnknown(word, pieces);
    }
    start = end;
  }
  return absl::OkStatus();
}

std::optional<uint32_t> WordPiece::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(StdView(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* WordPiece::IdToToken(uint32_t id) const {
  auto it = tokens_by_id_.find(id);
  return it == tokens_by_id_.end() ? nullptr : it->second;
}

}  // namespace trustformers::tokenizers
