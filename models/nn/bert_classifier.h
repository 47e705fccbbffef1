// BertForSequenceClassification for training: the BERT encoder (embeddings, self-attention
// layers, pooler) plus a linear head, built from the training core's recorded ops so a loss
// differentiates through every weight. Parameters carry Hugging Face's names
// ("bert.encoder.layer.0.attention.self.query.weight", "classifier.bias", ...), so a state dict
// saved from it is a checkpoint transformers and our inference BertModel both load.
//
// The inference model (models/bert/bert_model.h) stays separate on purpose: it packs batches
// without padding, fuses q/k/v and keeps weights in a read-only memory map, none of which suits
// a model whose weights change every step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/hf_config.h"
#include "models/nn/generator.h"
#include "models/nn/modules.h"
#include "models/nn/tensor.h"

namespace trustformers::nn {

// A padded batch of token ids.
struct BertInputs {
  int64_t batch = 0;                    // B
  int64_t length = 0;                   // T
  std::vector<int64_t> ids;             // [B*T] row-major
  std::vector<int64_t> type_ids;        // [B*T] (empty: all 0)
  std::vector<std::vector<bool>> keep;  // [B][T] true for real tokens (empty: all real)
};

struct BertClassifierOptions {
  // Number of classes of the head. A checkpoint whose head has this many outputs keeps it; any
  // other head (or none) is replaced by a new one drawn as Hugging Face initialises it
  // (N(0, initializer_range) weights, zero bias).
  int64_t num_labels = 2;
  // Label names by id for the saved config.json; "LABEL_<i>" when empty.
  std::vector<std::string> labels;
  // Seeds the new head's initialisation and the dropout masks.
  uint64_t seed = 0;
  // Overrides every dropout probability of the config when >= 0 (0 turns dropout off).
  double dropout = -1.0;
};

class BertForSequenceClassification : public Module {
 public:
  // Reads config.json and model.safetensors from a Hugging Face folder; tensor names with or
  // without the "bert." prefix. INVALID_ARGUMENT naming the tensor when one is missing or
  // mis-shaped, UNIMPLEMENTED for configurations other than BERT with absolute positions and
  // GELU.
  static absl::StatusOr<std::unique_ptr<BertForSequenceClassification>> FromPretrained(
      const std::string& folder, const BertClassifierOptions& options);

  // Class scores for a padded batch.  -> [B, num_labels]
  // INVALID_ARGUMENT for inconsistent sizes, ids outside the vocabulary or sequences longer than
  // max_position_embeddings.
  absl::StatusOr<Tensor> logits(const BertInputs& inputs);
  // x holds token ids [B, T] (integral floats), every token real and of type 0.
  absl::StatusOr<Tensor> forward(const Tensor& x) override;

  std::vector<std::pair<std::string, Tensor>> named_parameters() const override;

  // Writes a Hugging Face folder: config.json (architectures BertForSequenceClassification,
  // id2label and label2id), model.safetensors, and the base folder's tokenizer files, so
  // transformers and the server's Classify load it as it is.
  absl::Status SavePretrained(const std::string& folder) const;

  const models::EncoderConfig& config() const { return config_; }
  int64_t num_labels() const { return classifier_weight_.dim(0); }
  const std::vector<std::string>& labels() const { return labels_; }
  // Draws every dropout mask; a checkpoint saves and restores its state.
  Generator& dropout_generator() { return dropout_generator_; }

 private:
  struct Layer {
    Tensor query_weight, query_bias, key_weight, key_bias, value_weight, value_bias;
    Tensor attention_out_weight, attention_out_bias, attention_norm_weight, attention_norm_bias;
    Tensor intermediate_weight, intermediate_bias, output_weight, output_bias;
    Tensor output_norm_weight, output_norm_bias;
  };

  // Which cells of the padded [B, T] batch are rows of the packed tensors: N cells, ascending.
  struct Packing {
    int64_t batch = 0, length = 0;
    std::vector<int64_t> rows;
    bool packed() const { return static_cast<int64_t>(rows.size()) != batch * length; }
  };

  BertForSequenceClassification() = default;
  absl::Status Validate(const BertInputs& inputs) const;
  absl::StatusOr<Tensor> Dropout(const Tensor& x, double p);
  absl::StatusOr<Tensor> SelfAttention(const Layer& layer, const Tensor& x, const Tensor& mask,
                                       const Packing& packing);

  models::EncoderConfig config_;
  std::string base_folder_;
  std::vector<std::string> labels_;
  double hidden_dropout_ = 0.0, attention_dropout_ = 0.0, classifier_dropout_ = 0.0;
  Generator dropout_generator_;

  Tensor word_embeddings_, position_embeddings_, token_type_embeddings_;
  Tensor embedding_norm_weight_, embedding_norm_bias_;
  std::vector<Layer> layers_;
  Tensor pooler_weight_, pooler_bias_;
  Tensor classifier_weight_, classifier_bias_;
};

}  // namespace trustformers::nn
