// One sequence's attention keys and values for a decoder: per layer, rows of kv_heads * head_dim
// values (f16 for quantized GGUF models, as llama.cpp keeps them; f32 for Hugging Face float
// checkpoints, whose results must match transformers closely), one row per position, contiguous.
// The model writes the new rows of each step; the engine's sequence object owns the cache (the
// paged cache of the batching engine replaces this layout behind the same model interface).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace trustformers::models {

enum class KvElement { kF16, kF32 };

class KvCache {
 public:
  // Room grows on demand up to max_positions.
  KvCache(int64_t layers, int64_t row_width, int64_t max_positions,
          KvElement element = KvElement::kF16);

  // Positions held (the next token goes at position length()).
  int64_t length() const { return length_; }
  int64_t max_positions() const { return max_positions_; }
  int64_t row_width() const { return row_width_; }

  // Makes room for `count` more positions: OUT_OF_RANGE past max_positions.
  absl::Status Reserve(int64_t count);
  KvElement element() const { return element_; }
  // The first row of layer `layer`, for the cache's element type; rows up to length() + the
  // reserved count are writable.
  uint16_t* keys(int64_t layer) { return keys_[layer].data(); }
  uint16_t* values(int64_t layer) { return values_[layer].data(); }
  const uint16_t* keys(int64_t layer) const { return keys_[layer].data(); }
  const uint16_t* values(int64_t layer) const { return values_[layer].data(); }
  float* keys_f32(int64_t layer) { return keys_f32_[layer].data(); }
  float* values_f32(int64_t layer) { return values_f32_[layer].data(); }

  // After a forward step wrote `count` rows.
  void Advance(int64_t count) { length_ += count; }
  // Forgets positions from `length` on (to recompute or to branch a sequence).
  void Truncate(int64_t length);

  // Bytes held, for memory accounting.
  int64_t bytes() const;

 private:
  int64_t row_width_;
  int64_t max_positions_;
  KvElement element_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  std::vector<std::vector<uint16_t>> keys_;
  std::vector<std::vector<uint16_t>> values_;
  std::vector<std::vector<float>> keys_f32_;
  std::vector<std::vector<float>> values_f32_;
};

}  // namespace trustformers::models
