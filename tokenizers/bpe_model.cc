#include "tokenizers/bpe_model.h"

#include <queue>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trustformers::tokenizers {
namespace {

// One symbol of a piece being merged; removed symbols keep their slot with `alive` false.
struct Symbol {
  uint32_t id = 0;
  int64_t prev = -1;
  int64_t next = -1;
  bool alive = true;
};

// A candidate merge of the symbol at `pos` with the next live one.
struct Candidate {
  uint32_t rank = 0;
  size_t pos = 0;
  uint32_t new_id = 0;
  // The priority queue's top is the lowest rank, then the leftmost position.
  bool operator<(const Candidate& other) const {
    if (rank != other.rank) return rank > other.rank;
    return pos > other.pos;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, Options options) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->vocab_ = std::move(vocab);
  model->options_ = std::move(options);
  if (model->options_.unk_token.has_value()) {
    model->unk_id_ = model->TokenToId(*model->options_.unk_token);
    if (!model->unk_id_.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the unknown token '", *model->options_.unk_token, "' is not in the vocabulary"));
    }
  }
  const size_t prefix_length = model->options_.continuing_subword_prefix.size();
  model->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const std::optional<uint32_t> left_id = model->TokenToId(left);
    const std::optional<uint32_t> right_id = model->TokenToId(right);
    // The right part carries the continuing-subword prefix, which the merged token has once.
    const std::string merged =
        right.size() >= prefix_length && absl::string_view(right).substr(0, prefix_length) ==
                                             model->options_.continuing_subword_prefix
            ? absl::StrCat(left, absl::string_view(right).substr(prefix_length))
            : absl::StrCat(left, right);
    const std::optional<uint32_t> new_id = model->TokenToId(merged);
    if (!left_id.has_value() || !right_id.has_value() || !new_id.has_value()) {
      const std::string& missing = !left_id.has_value()    ? left
                                   : !right_id.has_value() ? right
                                                           : merged;
      return absl::InvalidArgumentError(absl::StrCat("merge ", rank, " ('", left, "' '", right,
                                                     "'): '", missing,
                                                     "' is not in the vocabulary"));
    }
    model->merges_.try_emplace(PairKey(*left_id, *right_id),
                               Merge{static_cast<uint32_t>(rank), *new_id});
  }
  return model;
}

std::optional<uint32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(std::string_view(token.data(), token.size()));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const BpeModel::Merge* BpeModel::FindMerge(uint32_t left, uint32_t right) const {
  auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::Tokenize(absl::string_view piece, std::vector<uint32_t>* ids) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (std::optional<uint32_t> id = TokenToId(piece)) {
      ids->push_back(*id);
      return;
    }
  }

  // One symbol per character, or its byte tokens, or the unknown token.
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto add = [&symbols](uint32_t id) {
    const int64_t index = static_cast<int64_t>(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, true});
  };
  bool pending_unknown = false;
  std::string key;
  size_t pos = 0;
  while (pos < piece.size()) {
    size_t end = pos + 1;
    while (end < piece.size() && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) ++end;
    const absl::string_view character = piece.substr(pos, end - pos);
    key.clear();
    if (pos > 0) key.append(options_.continuing_subword_prefix);
    key.append(character.data(), character.size());
    if (end == piece.size()) key.append(options_.end_of_word_suffix);
    pos = end;
    if (std::optional<uint32_t> id = TokenToId(key)) {
      if (pending_unknown) add(*unk_id_);
      pending_unknown = false;
      add(*id);
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<uint32_t> bytes;
      for (char byte : key) {
        std::optional<uint32_t> id =
            TokenToId(absl::StrFormat("<0x%02X>", static_cast<unsigned char>(byte)));
        if (!id.has_value()) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == key.size()) {
        // As Hugging Face does, a pending unknown token waits until the next known character.
        for (uint32_t id : bytes) add(id);
        continue;
      }
    }
    if (unk_id_.has_value()) {
      if (pending_unknown && !options_.fuse_unk) add(*unk_id_);
      pending_unknown = true;
    }
  }
  if (pending_unknown) add(*unk_id_);

  std::priority_queue<Candidate> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* merge = FindMerge(symbols[i].id, symbols[i + 1].id)) {
      queue.push({merge->rank, i, merge->new_id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    const size_t right_pos = static_cast<size_t>(left.next);
    Symbol& right = symbols[right_pos];
    // A candidate goes stale when either symbol has merged with something else since.
    const Merge* current = FindMerge(left.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;
    left.id = top.new_id;
    left.next = right.next;
    right.alive = false;
    if (right.next >= 0)
      symbols[static_cast<size_t>(right.next)].prev = static_cast<int64_t>(top.pos);
    if (left.prev >= 0) {
      const size_t prev = static_cast<size_t>(left.prev);
      if (const Merge* merge = FindMerge(symbols[prev].id, left.id)) {
        queue.push({merge->rank, prev, merge->new_id});
      }
    }
    if (left.next >= 0) {
      if (const Merge* merge = FindMerge(left.id, symbols[static_cast<size_t>(left.next)].id)) {
        queue.push({merge->rank, top.pos, merge->new_id});
      }
    }
  }
  for (const Symbol& symbol : symbols) {
    if (symbol.alive) ids->push_back(symbol.id);
  }
}

}  // namespace trustformers::tokenizers
