#include "models/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trustformers::models {

KvCache::KvCache(int64_t layers, int64_t row_width, int64_t max_positions, KvElement element)
    : row_width_(row_width), max_positions_(max_positions), element_(element) {
  const size_t n = static_cast<size_t>(layers);
  if (element == KvElement::kF16) {
    keys_.resize(n);
    values_.resize(n);
  } else {
    keys_f32_.resize(n);
    values_f32_.resize(n);
  }
}

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
  const size_t size = static_cast<size_t>(capacity * row_width_);
  for (auto* side : {&keys_, &values_}) {
    for (std::vector<uint16_t>& rows : *side) rows.resize(size);
  }
  for (auto* side : {&keys_f32_, &values_f32_}) {
    for (std::vector<float>& rows : *side) rows.resize(size);
  }
  capacity_ = capacity;
  return absl::OkStatus();
}

void KvCache::Rows(int64_t layer, int64_t begin, int64_t end, void** keys, void** values) const {
  const auto l = static_cast<size_t>(layer);
  for (int64_t p = begin; p < end; ++p) {
    const size_t offset = static_cast<size_t>(p * row_width_);
    if (element_ == KvElement::kF16) {
      keys[p - begin] = keys_[l].data() + offset;
      values[p - begin] = values_[l].data() + offset;
    } else {
      keys[p - begin] = keys_f32_[l].data() + offset;
      values[p - begin] = values_f32_[l].data() + offset;
    }
  }
}

void KvCache::Truncate(int64_t length) { length_ = std::clamp<int64_t>(length, 0, length_); }

int64_t KvCache::bytes() const {
  const int64_t element = element_ == KvElement::kF16 ? 2 : 4;
  const int64_t layers = static_cast<int64_t>(std::max(keys_.size(), keys_f32_.size()));
  return 2 * layers * capacity_ * row_width_ * element;
}

}  // namespace trustformers::models
