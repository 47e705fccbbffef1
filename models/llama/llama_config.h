// The hyper-parameters of a Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2), read from
// GGUF metadata under the architecture's prefix ("llama.block_count", ...).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "backends/cpu/decoder_ops.h"
#include "models/loader/gguf.h"

namespace trustformers::models {

struct LlamaConfig {
  std::string architecture;  // "llama", "qwen2", "mistral"
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  float rms_epsilon = 1e-5f;
  // RoPE: rotary dims, base, linear scale and pairing; freq_factors are filled by the model from
  // the rope_freqs tensor when the file has one.
  backends::cpu::RopeParams rope;
};

// INVALID_ARGUMENT for an architecture other than llama, mistral and qwen2, and naming the key
// for missing or inconsistent values (heads not dividing the hidden size, kv heads not dividing
// heads, ...); UNIMPLEMENTED for rope scaling types other than none and linear.
absl::StatusOr<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file);

}  // namespace trustformers::models
