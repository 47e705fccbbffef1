// How a decoder reads and writes one sequence's attention keys and values, whatever holds them:
// the contiguous KvCache (one request at a time, tests) or the engine's paged block pool (blocks
// of a fixed number of positions, shared between sequences with the same prefix). The model asks
// for room, writes the new positions' rows, and reads every row up to the new length through row
// pointers, so attention kernels never assume the rows are contiguous.
#pragma once

#include <cstdint>

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

}  // namespace trustformers::models
