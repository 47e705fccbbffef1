// The result of tokenizing one input (or one pair of inputs): parallel arrays with one entry per
// token, in the layout BERT-family models take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trustformers::tokenizers {

// Which end of a sequence truncation cuts or padding fills.
enum class Side { kLeft, kRight };

// A half-open byte range [start, end) of the input text.
struct Offsets {
  size_t start = 0;
  size_t end = 0;
  friend bool operator==(const Offsets&, const Offsets&) = default;
};

struct Encoding {
  std::vector<uint32_t> ids;
  // Segment of each token: 0 for the first sequence, 1 for the second in BERT templates.
  std::vector<uint32_t> type_ids;
  std::vector<std::string> tokens;
  // Byte offsets into the UTF-8 text the token came from (the first or the second input of a
  // pair); (0, 0) for special and padding tokens.
  std::vector<Offsets> offsets;
  // 1 for tokens added by the post-processor and for padding.
  std::vector<uint8_t> special_tokens_mask;
  // 0 for padding, 1 otherwise.
  std::vector<uint8_t> attention_mask;

  size_t size() const { return ids.size(); }

  // Appends one token to every array.
  void Push(uint32_t id, uint32_t type_id, std::string token, Offsets offset, uint8_t special,
            uint8_t attention) {
    ids.push_back(id);
    type_ids.push_back(type_id);
    tokens.push_back(std::move(token));
    offsets.push_back(offset);
    special_tokens_mask.push_back(special);
    attention_mask.push_back(attention);
  }
};

}  // namespace trustformers::tokenizers
