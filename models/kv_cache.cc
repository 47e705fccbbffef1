#include "models/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trustformers::models {

KvCache::KvCache(int64_t layers, int64_t row_width, int64_t max_positions)
    : row_width_(row_width),
      max_positions_(max_positions),
      keys_(static_cast<size_t>(layers)),
      values_(static_cast<size_t>(layers)) {}

absl::Status KvCache::Reserve(int64_t count) {
  const int64_t needed = length_ + count;
  if (count < 0 || needed > max_positions_) {
    return absl::OutOfRangeError(absl::StrCat("the sequence would hold ", needed,
                                              " positions; the context has room for ",
                                              max_positions_));
  }
  if (needed <= capacity_) return absl::OkStatus();
  // Geometric growth: a long generation reallocates a logarithmic number of times.
  const int64_t capacity = std::min(max_positions_, std::max({needed, 2 * capacity_, int64_t{64}}));
  for (auto* side : {&keys_, &values_}) {
    for (std::vector<uint16_t>& rows : *side)
      rows.resize(static_cast<size_t>(capacity * row_width_));
  }
  capacity_ = capacity;
  return absl::OkStatus();
}

void KvCache::Truncate(int64_t length) { length_ = std::clamp<int64_t>(length, 0, length_); }

int64_t KvCache::bytes() const {
  return 2 * static_cast<int64_t>(keys_.size()) * capacity_ * row_width_ *
         static_cast<int64_t>(sizeof(uint16_t));
}

}  // namespace trustformers::models
