// One sequence's attention keys and values in contiguous memory: per layer, rows of
// kv_heads * head_dim values (f16 for quantized GGUF models, as llama.cpp keeps them; f32 for
// Hugging Face float checkpoints, whose results must match transformers closely), one row per
// position. For one request at a time (tools, tests); the serving engine keeps its sequences in
// the paged pool of engine/kv_cache.h behind the same SequenceKv interface.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "models/kv_view.h"

namespace trustformers::models {

class KvCache final : public SequenceKv {
 public:
  // Room grows on demand up to max_positions.
  KvCache(int64_t layers, int64_t row_width, int64_t max_positions,
          KvElement element = KvElement::kF16);

  int64_t length() const override { return length_; }
  int64_t max_positions() const { return max_positions_; }
  int64_t row_width() const override { return row_width_; }
  KvElement element() const override { return element_; }

  // Makes room for `count` more positions: OUT_OF_RANGE past max_positions.
  absl::Status Reserve(int64_t count) override;
  void Rows(int64_t layer, int64_t begin, int64_t end, void** keys, void** values) const override;
  void Advance(int64_t count) override { length_ += count; }
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
  // Mutable: Rows hands out writable pointers to the reserved rows.
  mutable std::vector<std::vector<uint16_t>> keys_;
  mutable std::vector<std::vector<uint16_t>> values_;
  mutable std::vector<std::vector<float>> keys_f32_;
  mutable std::vector<std::vector<float>> values_f32_;
};

}  // namespace trustformers::models
