// The BERT family encoder (BERT, MiniLM, RoBERTa-style position offsets) as an immutable model:
// weights are loaded once, shared by every request, and Forward keeps no state between calls.
// A batch is packed (see backends/ops.h): no work is spent on padding.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/ops.h"
#include "backends/tensor.h"
#include "models/hf_config.h"
#include "models/loader/safetensors.h"

namespace trustformers::models {

// One input: token ids with their segment (token type) ids, same length.
struct EncoderInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class BertModel {
 public:
  // Reads config.json and the safetensors checkpoint in `folder`. Tensor names may carry the
  // task models' prefix ("bert.", "roberta.") or not. INVALID_ARGUMENT naming the tensor for a
  // missing or mis-shaped weight.
  static absl::StatusOr<std::unique_ptr<BertModel>> Load(const std::string& folder);

  // Hidden states of the last layer for a batch, packed.  -> [total tokens, hidden]
  // INVALID_ARGUMENT for an empty input, ids outside the vocabulary or inputs longer than
  // max_position_embeddings.
  absl::StatusOr<backends::Tensor> Forward(const std::vector<EncoderInput>& batch,
                                           backends::SequenceOffsets* offsets) const;

  // The checks Forward applies to one input, so callers can refuse a bad input on its own
  // before batching it with others.
  absl::Status ValidateInput(const EncoderInput& input) const;

  // The pooler (dense + tanh on each sequence's first token) and the classification head, when
  // the checkpoint has them.  -> [batch, labels] logits
  absl::StatusOr<backends::Tensor> ClassifierLogits(const backends::Tensor& hidden,
                                                    const backends::SequenceOffsets& offsets) const;

  const EncoderConfig& config() const { return config_; }
  bool has_classifier() const { return classifier_weight_.defined(); }
  int64_t parameter_count() const { return parameter_count_; }
  int64_t num_labels() const { return has_classifier() ? classifier_weight_.dim(0) : 0; }

 private:
  struct Layer {
    // Weights in the [K, N] layout of backends::PrepareLinearWeight.
    backends::Tensor qkv_weight, qkv_bias;  // [H, 3H], [3H]: query, key and value fused
    backends::Tensor attention_out_weight, attention_out_bias;
    backends::Tensor attention_norm_gamma, attention_norm_beta;
    backends::Tensor intermediate_weight, intermediate_bias;
    backends::Tensor output_weight, output_bias;
    backends::Tensor output_norm_gamma, output_norm_beta;
  };

  EncoderConfig config_;
  std::shared_ptr<SafetensorsCheckpoint> checkpoint_;  // borrowed F32 weights point into it
  backends::Tensor word_embeddings_, position_embeddings_, token_type_embeddings_;
  backends::Tensor embedding_norm_gamma_, embedding_norm_beta_;
  std::vector<Layer> layers_;
  backends::Tensor pooler_weight_, pooler_bias_;
  backends::Tensor classifier_weight_, classifier_bias_;
  int64_t parameter_count_ = 0;
};

}  // namespace trustformers::models
