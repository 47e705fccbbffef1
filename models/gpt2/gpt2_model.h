// GPT-2 from a Hugging Face folder (config.json + model.safetensors): learned position
// embeddings, pre-norm blocks with LayerNorm, one fused query/key/value projection (c_attn),
// GELU-tanh, and an output head tied to the token embeddings. The checkpoint's Conv1D weights are
// stored [in, out], which is the [K, N] layout backends::LinearKN multiplies directly. Keys and
// values are cached in f32 so the logits follow transformers' float32 results closely.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/tensor.h"
#include "models/decoder_model.h"
#include "models/loader/safetensors.h"

namespace trustformers::models {

struct Gpt2Config {
  int64_t vocab_size = 0;
  int64_t positions = 0;  // n_positions
  int64_t hidden = 0;     // n_embd
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t inner = 0;  // n_inner, 4 * hidden when null
  float epsilon = 1e-5f;
};

class Gpt2Model final : public DecoderModel {
 public:
  // INVALID_ARGUMENT naming the key or weight for a malformed folder; UNIMPLEMENTED for
  // activation functions other than GELU-tanh or variants (scale_attn_by_inverse_layer_idx...).
  static absl::StatusOr<std::unique_ptr<Gpt2Model>> Load(const std::string& folder);

  const Gpt2Config& config() const { return config_; }

  const std::string& architecture() const override { return architecture_; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t context_length() const override { return config_.positions; }
  int64_t parameter_count() const override { return parameter_count_; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  KvCache NewCache(int64_t max_positions = 0) const override;
  KvShape kv_shape() const override { return {config_.layers, config_.hidden, KvElement::kF32}; }
  absl::Status ForwardBatch(std::span<const SequenceStep> steps,
                            std::vector<float>* logits) const override;

 private:
  // One step of the batch (GPT-2 runs its steps one after another).
  absl::Status ForwardOne(std::span<const int32_t> tokens, SequenceKv* cache, bool all_logits,
                          std::vector<float>* logits) const;

  struct Layer {
    backends::Tensor ln1_gamma, ln1_beta, qkv_weight, qkv_bias, proj_weight, proj_bias;
    backends::Tensor ln2_gamma, ln2_beta, fc_weight, fc_bias, out_weight, out_bias;
  };

  Gpt2Model() = default;

  std::string architecture_ = "gpt2";
  Gpt2Config config_;
  std::shared_ptr<SafetensorsCheckpoint> checkpoint_;
  backends::Tensor token_embeddings_;     // [vocab, hidden]
  backends::Tensor position_embeddings_;  // [positions, hidden]
  backends::Tensor final_gamma_, final_beta_;
  std::vector<Layer> layers_;
  int64_t parameter_count_ = 0;
  int64_t weight_bytes_ = 0;
};

}  // namespace trustformers::models
