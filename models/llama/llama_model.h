// A Llama-family decoder (Llama 2/3, SmolLM2, Mistral-style GQA, Qwen2-style q/k/v biases) from a
// GGUF file or a Hugging Face folder (config.json + safetensors, F32/F16/BF16): RMS norm, RoPE,
// grouped-query attention over the sequence's KV cache, SwiGLU, and an output head tied to the
// embeddings when the file has none. Weights stay in their GGUF block formats inside the memory map
// and are multiplied there (backends/cpu/quant/). The model is immutable and shared by every
// request; per-sequence state is the KvCache the caller passes.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/cpu/quant/quant_matmul.h"
#include "models/decoder_model.h"
#include "models/kv_cache.h"
#include "models/llama/llama_config.h"
#include "models/loader/gguf.h"
#include "models/loader/safetensors.h"

namespace trustformers::models {

class LlamaModel final : public DecoderModel {
 public:
  // INVALID_ARGUMENT naming the tensor for a missing, mis-shaped or mistyped weight;
  // UNIMPLEMENTED for unsupported variants (see LlamaConfigFromGguf).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> FromGguf(std::unique_ptr<GgufFile> file);
  // A Hugging Face LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM folder. Its weights
  // are multiplied in their stored float type; keys and values are cached in f32 so results
  // follow transformers closely. UNIMPLEMENTED for rope scaling other than linear and llama3.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> FromHfFolder(const std::string& folder);

  const LlamaConfig& config() const { return config_; }
  // The GGUF file the model was built from (its metadata holds the tokenizer); null for a
  // Hugging Face folder.
  const GgufFile* gguf() const { return gguf_.get(); }

  // DecoderModel.
  const std::string& architecture() const override { return config_.architecture; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t context_length() const override { return config_.context_length; }
  int64_t parameter_count() const override { return parameter_count_; }
  int64_t weight_bytes() const override;
  // Bytes of weights one decoded token reads: all but the embedding table, of which it reads a
  // row, unless the output head shares it.
  int64_t decode_bytes_per_token() const;
  KvCache NewCache(int64_t max_positions = 0) const override;
  KvShape kv_shape() const override {
    return {config_.layers, config_.kv_heads * config_.head_dim, cache_element_};
  }
  absl::Status ForwardBatch(std::span<const SequenceStep> steps,
                            std::vector<float>* logits) const override;
  // Also the KV element this model's sequences must use (f16 for GGUF, f32 for float folders).
  KvElement kv_element() const { return cache_element_; }

 private:
  struct Layer {
    const float* attention_norm = nullptr;
    backends::cpu::QuantMatrix q, k, v, o;
    const float* q_bias = nullptr;  // Qwen2
    const float* k_bias = nullptr;
    const float* v_bias = nullptr;
    const float* ffn_norm = nullptr;
    backends::cpu::QuantMatrix gate, up, down;
  };

  // A weight by its GGUF name, whichever file it came from.
  struct TensorRef {
    GgmlType type = GgmlType::kF32;
    std::vector<int64_t> shape;  // slowest-varying first
    std::span<const uint8_t> bytes;
  };

  LlamaModel() = default;
  absl::Status Bind();
  absl::StatusOr<backends::cpu::QuantMatrix> Matrix(const std::string& name, int64_t rows,
                                                    int64_t cols) const;
  absl::StatusOr<const float*> Vector(const std::string& name, int64_t length, bool optional) const;

  std::string source_;  // the file or folder, for messages
  std::unique_ptr<GgufFile> gguf_;
  std::shared_ptr<SafetensorsCheckpoint> checkpoint_;
  std::map<std::string, TensorRef, std::less<>> tensors_;
  // Float copies of vectors stored in other types (Hugging Face F16/BF16 norms).
  mutable std::deque<std::vector<float>> converted_;
  KvElement cache_element_ = KvElement::kF16;
  LlamaConfig config_;
  backends::cpu::QuantMatrix embeddings_;  // [vocab, hidden]
  backends::cpu::QuantMatrix output_;      // [vocab, hidden]; the embeddings when tied
  const float* output_norm_ = nullptr;
  std::vector<float> rope_factors_;
  std::vector<Layer> layers_;
  int64_t parameter_count_ = 0;
};

}  // namespace trustformers::models
