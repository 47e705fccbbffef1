#include "tokenizers/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"
#include "tokenizers/unicode.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

bool IsContinuationByte(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

// Whether the last character of text[0, end) is a word character.
bool EndsWithWord(absl::string_view text, size_t end) {
  if (end == 0) return false;
  size_t start = end - 1;
  while (start > 0 && IsContinuationByte(text[start])) --start;
  return IsWordCharacter(DecodeUtf8(text, &start));
}

bool StartsWithWord(absl::string_view text, size_t start) {
  if (start >= text.size()) return false;
  return IsWordCharacter(DecodeUtf8(text, &start));
}

// Start of the whitespace run that ends text[0, end).
size_t TrailingSpaceStart(absl::string_view text, size_t end) {
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && IsContinuationByte(text[start])) --start;
    size_t pos = start;
    if (!IsWhitespace(DecodeUtf8(text, &pos))) break;
    end = start;
  }
  return end;
}

// End of the whitespace run that starts text at `start`.
size_t LeadingSpaceEnd(absl::string_view text, size_t start) {
  while (start < text.size()) {
    size_t pos = start;
    if (!IsWhitespace(DecodeUtf8(text, &pos))) break;
    start = pos;
  }
  return start;
}

absl::StatusOr<bool> OptionalBool(const nlohmann::json& object, absl::string_view path,
                                  const char* key, bool default_value) {
  if (OptionalField(object, key) == nullptr) return default_value;
  return ReadBool(object, path, key);
}

}  // namespace

// A byte trie over token strings, answering "longest token starting here".
class AddedVocabulary::Trie {
 public:
  void Insert(absl::string_view pattern, size_t entry) {
    size_t node = 0;
    for (char byte : pattern) {
      const unsigned char b = static_cast<unsigned char>(byte);
      size_t child = Child(node, b);
      if (child == 0) {
        child = nodes_.size();
        nodes_[node].next.emplace_back(b, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    nodes_[node].entry = static_cast<int64_t>(entry);
  }

  // The longest pattern that starts at text[pos]: its length and entry, or length 0.
  std::pair<size_t, size_t> LongestAt(absl::string_view text, size_t pos) const {
    std::pair<size_t, size_t> best = {0, 0};
    size_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = Child(node, static_cast<unsigned char>(text[i]));
      if (node == 0) break;
      if (nodes_[node].entry >= 0) best = {i + 1 - pos, static_cast<size_t>(nodes_[node].entry)};
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, size_t>> next;
    int64_t entry = -1;
  };

  // The child of `node` on byte `b`, or 0 (the root is nobody's child).
  size_t Child(size_t node, unsigned char b) const {
    for (const auto& [byte, child] : nodes_[node].next) {
      if (byte == b) return child;
    }
    return 0;
  }

  std::vector<Node> nodes_ = std::vector<Node>(1);
};

AddedVocabulary::AddedVocabulary(
    std::vector<AddedToken> tokens,
    const std::function<std::optional<uint32_t>(absl::string_view)>& model_token_to_id,
    size_t model_vocab_size, const std::function<std::string(absl::string_view)>& normalize) {
  uint32_t next_id = static_cast<uint32_t>(model_vocab_size);
  for (AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    uint32_t id;
    if (auto it = ids_by_content_.find(token.content); it != ids_by_content_.end()) {
      id = it->second;
    } else if (std::optional<uint32_t> model_id = model_token_to_id(token.content)) {
      id = *model_id;
    } else {
      id = next_id++;
      ++new_token_count_;
    }
    ids_by_content_[token.content] = id;
    if (token.special) special_contents_.insert(token.content);
    Entry entry;
    entry.decoded = token.normalized ? normalize(token.content) : token.content;
    entry.token = std::move(token);
    entry.id = id;
    // A later token with the same id replaces the earlier one, for matching and decoding alike.
    entry_by_id_[id] = entries_.size();
    entries_.push_back(std::move(entry));
  }
  for (const auto& [id, index] : entry_by_id_) {
    const Entry& entry = entries_[index];
    for (int include_special = 0; include_special < 2; ++include_special) {
      if (entry.token.special && include_special == 0) continue;
      std::unique_ptr<Trie>& trie = tries_[entry.token.normalized ? 1 : 0][include_special];
      if (!trie) trie = std::make_unique<Trie>();
      // A normalised content can become empty (e.g. only control characters): nothing to match.
      if (!entry.decoded.empty()) trie->Insert(entry.decoded, index);
    }
  }
}

AddedVocabulary::~AddedVocabulary() = default;

absl::StatusOr<std::vector<AddedToken>> AddedVocabulary::ParseJson(const nlohmann::json& config) {
  if (!config.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("added_tokens must be an array, not ", DescribeJsonType(config)));
  }
  std::vector<AddedToken> tokens;
  tokens.reserve(config.size());
  for (size_t i = 0; i < config.size(); ++i) {
    const nlohmann::json& item = config[i];
    const std::string path = absl::StrCat("added_tokens[", i, "]");
    AddedToken token;
    absl::StatusOr<std::string> content = ReadString(item, path, "content");
    if (!content.ok()) return content.status();
    // The id is checked but not used: Hugging Face assigns ids itself (see the constructor).
    absl::StatusOr<uint32_t> id = ReadUint32(item, path, "id");
    if (!id.ok()) return id.status();
    absl::StatusOr<bool> special = OptionalBool(item, path, "special", false);
    if (!special.ok()) return special.status();
    absl::StatusOr<bool> single_word = OptionalBool(item, path, "single_word", false);
    if (!single_word.ok()) return single_word.status();
    absl::StatusOr<bool> lstrip = OptionalBool(item, path, "lstrip", false);
    if (!lstrip.ok()) return lstrip.status();
    absl::StatusOr<bool> rstrip = OptionalBool(item, path, "rstrip", false);
    if (!rstrip.ok()) return rstrip.status();
    absl::StatusOr<bool> normalized = OptionalBool(item, path, "normalized", !*special);
    if (!normalized.ok()) return normalized.status();
    token.content = *std::move(content);
    token.special = *special;
    token.single_word = *single_word;
    token.lstrip = *lstrip;
    token.rstrip = *rstrip;
    token.normalized = *normalized;
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::vector<AddedVocabulary::Match> AddedVocabulary::FindMatches(absl::string_view text,
                                                                 bool normalized,
                                                                 bool include_special) const {
  std::vector<Match> matches;
  const Trie* trie = tries_[normalized ? 1 : 0][include_special ? 1 : 0].get();
  if (trie == nullptr) return matches;
  size_t taken_until = 0;  // end of the last accepted match
  size_t pos = 0;
  while (pos < text.size()) {
    const auto [length, index] = trie->LongestAt(text, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    const Entry& entry = entries_[index];
    size_t start = pos;
    size_t stop = pos + length;
    // The search resumes after the match itself, whether or not it is accepted or stretched.
    pos = stop;
    if (entry.token.single_word && (EndsWithWord(text, start) || StartsWithWord(text, stop))) {
      continue;
    }
    if (entry.token.lstrip) start = std::max(TrailingSpaceStart(text, start), taken_until);
    if (entry.token.rstrip) stop = LeadingSpaceEnd(text, stop);
    matches.push_back({start, stop, entry.id});
    taken_until = stop;
  }
  return matches;
}

std::optional<uint32_t> AddedVocabulary::TokenToId(absl::string_view content) const {
  auto it = ids_by_content_.find(std::string(content));
  if (it == ids_by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::IdToToken(uint32_t id) const {
  auto it = entry_by_id_.find(id);
  return it == entry_by_id_.end() ? nullptr : &entries_[it->second].decoded;
}

const AddedToken* AddedVocabulary::Find(uint32_t id) const {
  auto it = entry_by_id_.find(id);
  return it == entry_by_id_.end() ? nullptr : &entries_[it->second].token;
}

bool AddedVocabulary::IsSpecial(absl::string_view token) const {
  return special_contents_.find(std::string_view(token.data(), token.size())) !=
         special_contents_.end();
}

}  // namespace trustformers::tokenizers
