// How a decoder reads and writes one sequence's attention keys and values, whatever holds them:
// the contiguous KvCache (one request at a time, tests) or the engine's paged block pool (blocks
// of a fixed number of positions, shared between sequences with the same prefix). The model asks
// for room, writes the new positions' rows, and reads every row up to the new length through row
// pointers, so attention kernels never assume the rows are contiguous.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace trustformers::models {

enum class KvElement { kF16, kF32 };

class SequenceKv {
 public:
  virtual ~SequenceKv() = default;

  // Positions computed so far; the next token goes at position length().
  virtual int64_t length() const = 0;
  // Element type and row width (kv_heads * head_dim) of every row.
  virtual KvElement element() const = 0;
  virtual int64_t row_width() const = 0;

  // Makes positions [length(), length() + count) writable. OUT_OF_RANGE past the context,
  // RESOURCE_EXHAUSTED when the pool has no block left; on error nothing changed.
  virtual absl::Status Reserve(int64_t count) = 0;

  // Row pointers of layer `layer` for positions [begin, end), all below length() plus the
  // reserved count: keys[i] and values[i] point at position begin + i (uint16_t rows for kF16,
  // float rows for kF32). Rows at positions before length() are read-only: they may be shared
  // with other sequences.
  virtual void Rows(int64_t layer, int64_t begin, int64_t end, void** keys,
                    void** values) const = 0;

  // After a forward step wrote `count` rows.
  virtual void Advance(int64_t count) = 0;
};

// One layer's row pointers of a sequence for positions [0, end), typed for the kernels.
template <class T>
class KvRowTable {
 public:
  void Load(const SequenceKv& kv, int64_t layer, int64_t end) {
    const auto n = static_cast<size_t>(end);
    raw_keys_.resize(n);
    raw_values_.resize(n);
    kv.Rows(layer, 0, end, raw_keys_.data(), raw_values_.data());
    keys_.resize(n);
    values_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      keys_[i] = static_cast<T*>(raw_keys_[i]);
      values_[i] = static_cast<T*>(raw_values_[i]);
    }
  }
  T* const* keys() const { return keys_.data(); }
  T* const* values() const { return values_.data(); }
  T* key(int64_t position) const { return keys_[static_cast<size_t>(position)]; }
  T* value(int64_t position) const { return values_[static_cast<size_t>(position)]; }

 private:
  std::vector<void*> raw_keys_, raw_values_;
  std::vector<T*> keys_, values_;
};

}  // namespace trustformers::models
