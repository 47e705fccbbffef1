// config.json of a Hugging Face encoder, read into typed fields with the defaults transformers
// uses when a key is absent. Values that would make the model unusable are refused here with the
// key named, before any weight is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::models {

struct EncoderConfig {
  std::string model_type;                  // "bert", "roberta", "xlm-roberta", ...
  std::vector<std::string> architectures;  // e.g. {"BertForSequenceClassification"}
  int64_t vocab_size = 0;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  std::string position_embedding_type = "absolute";
  // Label names by id; empty for models without a classification head.
  std::vector<std::string> id2label;
  // "single_label_classification", "multi_label_classification", "regression" or "".
  std::string problem_type;
  // Training only: dropout probabilities and the standard deviation new weights start from.
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double initializer_range = 0.02;
  // Dropout before the classification head; hidden_dropout_prob when the config says null.
  double classifier_dropout = -1.0;  // < 0: unset

  // RoBERTa-style models number positions from pad_token_id + 1.
  int64_t position_offset() const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Reads `folder`/config.json. INVALID_ARGUMENT naming the key for wrong types or values.
absl::StatusOr<EncoderConfig> ReadEncoderConfig(const std::string& folder);

}  // namespace trustformers::models
