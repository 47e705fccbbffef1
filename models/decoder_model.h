// What the decoder engine needs from a decoder-only architecture (Llama family from GGUF, GPT-2
// from a Hugging Face folder): immutable weights shared by every request, and a forward pass over
// one sequence's new tokens that reads and extends that sequence's KV cache.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/kv_cache.h"

namespace trustformers::models {

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;

  virtual const std::string& architecture() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t context_length() const = 0;
  virtual int64_t parameter_count() const = 0;
  // Bytes of weights held (mapped or loaded).
  virtual int64_t weight_bytes() const = 0;

  // An empty cache for one sequence, up to the context length (or `max_positions` if smaller).
  virtual KvCache NewCache(int64_t max_positions = 0) const = 0;

  // Runs `tokens` at positions cache->length() onward, appends their keys and values to the
  // cache, and writes the logits of the last token ([vocab]) or of every token ([tokens, vocab])
  // to `logits`. INVALID_ARGUMENT for ids outside the vocabulary or an empty input;
  // OUT_OF_RANGE when the context would overflow. On error the cache's length is unchanged.
  virtual absl::Status Forward(std::span<const int32_t> tokens, KvCache* cache, bool all_logits,
                               std::vector<float>* logits) const = 0;
};

}  // namespace trustformers::models
