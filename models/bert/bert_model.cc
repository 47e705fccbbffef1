#include "models/bert/bert_model.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "models/loader/weight_reader.h"

namespace trustformers::models {
namespace {

using backends::DType;
using backends::Shape;
using backends::Tensor;

}  // namespace

absl::StatusOr<std::unique_ptr<BertModel>> BertModel::Load(const std::string& folder) {
  auto model = std::unique_ptr<BertModel>(new BertModel());
  TF_ASSIGN_OR_RETURN(model->config_, ReadEncoderConfig(folder));
  const EncoderConfig& c = model->config_;
  if (c.hidden_act != "gelu") {
    return absl::UnimplementedError(absl::StrCat("model '", folder, "': hidden_act '", c.hidden_act,
                                                 "' is not supported (gelu is)"));
  }
  if (c.position_embedding_type != "absolute") {
    return absl::UnimplementedError(absl::StrCat("model '", folder, "': position_embedding_type '",
                                                 c.position_embedding_type,
                                                 "' is not supported (absolute is)"));
  }
  absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> opened =
      SafetensorsCheckpoint::Open(folder);
  if (!opened.ok()) return opened.status();
  model->checkpoint_ = *std::move(opened);
  WeightReader w(model->checkpoint_, folder, {"", "bert.", "roberta.", "model."});
  const int64_t h = c.hidden_size, inter = c.intermediate_size;

  TF_ASSIGN_OR_RETURN(model->word_embeddings_,
                      w.Read("embeddings.word_embeddings.weight", {c.vocab_size, h}));
  TF_ASSIGN_OR_RETURN(model->position_embeddings_, w.Read("embeddings.position_embeddings.weight",
                                                          {c.max_position_embeddings, h}));
  if (c.type_vocab_size > 0) {
    TF_ASSIGN_OR_RETURN(model->token_type_embeddings_,
                        w.Read("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}));
  }
  TF_ASSIGN_OR_RETURN(model->embedding_norm_gamma_, w.Read("embeddings.LayerNorm.weight", {h}));
  TF_ASSIGN_OR_RETURN(model->embedding_norm_beta_, w.Read("embeddings.LayerNorm.bias", {h}));

  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("encoder.layer.", i, ".");
    Layer layer;
    Tensor q, k, v, qb, kb, vb;
    TF_ASSIGN_OR_RETURN(q, w.Read(p + "attention.self.query.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(k, w.Read(p + "attention.self.key.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(v, w.Read(p + "attention.self.value.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(qb, w.Read(p + "attention.self.query.bias", {h}));
    TF_ASSIGN_OR_RETURN(kb, w.Read(p + "attention.self.key.bias", {h}));
    TF_ASSIGN_OR_RETURN(vb, w.Read(p + "attention.self.value.bias", {h}));
    // One [3H, H] product instead of three [H, H] ones: larger GEMMs run closer to peak.
    TF_ASSIGN_OR_RETURN(layer.qkv_weight, backends::ConcatRows({q, k, v}));
    TF_ASSIGN_OR_RETURN(layer.qkv_bias, backends::ConcatRows({qb, kb, vb}));
    TF_ASSIGN_OR_RETURN(layer.attention_out_weight,
                        w.Read(p + "attention.output.dense.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(layer.attention_out_bias, w.Read(p + "attention.output.dense.bias", {h}));
    TF_ASSIGN_OR_RETURN(layer.attention_norm_gamma,
                        w.Read(p + "attention.output.LayerNorm.weight", {h}));
    TF_ASSIGN_OR_RETURN(layer.attention_norm_beta,
                        w.Read(p + "attention.output.LayerNorm.bias", {h}));
    TF_ASSIGN_OR_RETURN(layer.intermediate_weight,
                        w.Read(p + "intermediate.dense.weight", {inter, h}));
    TF_ASSIGN_OR_RETURN(layer.intermediate_bias, w.Read(p + "intermediate.dense.bias", {inter}));
    TF_ASSIGN_OR_RETURN(layer.output_weight, w.Read(p + "output.dense.weight", {h, inter}));
    TF_ASSIGN_OR_RETURN(layer.output_bias, w.Read(p + "output.dense.bias", {h}));
    TF_ASSIGN_OR_RETURN(layer.output_norm_gamma, w.Read(p + "output.LayerNorm.weight", {h}));
    TF_ASSIGN_OR_RETURN(layer.output_norm_beta, w.Read(p + "output.LayerNorm.bias", {h}));
    // Stored once more as [K, N], the layout the products run fastest in; the [N, K] originals
    // in the memory map are not touched again.
    for (Tensor* weight : {&layer.qkv_weight, &layer.attention_out_weight,
                           &layer.intermediate_weight, &layer.output_weight}) {
      TF_ASSIGN_OR_RETURN(*weight, backends::PrepareLinearWeight(*weight));
    }
    model->layers_.push_back(std::move(layer));
  }

  if (w.Has("classifier.weight")) {
    const int64_t labels =
        w.Lookup("classifier.weight")->shape.empty() ? 0 : w.Lookup("classifier.weight")->shape[0];
    TF_ASSIGN_OR_RETURN(model->classifier_weight_, w.Read("classifier.weight", {labels, h}));
    TF_ASSIGN_OR_RETURN(model->classifier_bias_, w.Read("classifier.bias", {labels}));
    if (!c.id2label.empty() && static_cast<int64_t>(c.id2label.size()) != labels) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", folder, "': config.json has ", c.id2label.size(),
                       " labels in id2label but the classifier has ", labels, " outputs"));
    }
    TF_ASSIGN_OR_RETURN(model->pooler_weight_, w.Read("pooler.dense.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(model->pooler_bias_, w.Read("pooler.dense.bias", {h}));
  }
  model->parameter_count_ = w.parameters();
  return model;
}

absl::Status BertModel::ValidateInput(const EncoderInput& input) const {
  const int64_t len = static_cast<int64_t>(input.ids.size());
  if (len == 0) return absl::InvalidArgumentError("the input has no tokens");
  if (len + config_.position_offset() > config_.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("the input has ", len, " tokens; the model accepts at most ",
                     config_.max_position_embeddings - config_.position_offset()));
  }
  if (!input.type_ids.empty() && input.type_ids.size() != input.ids.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(input.type_ids.size(), " type ids for ", len, " tokens"));
  }
  for (size_t i = 0; i < input.ids.size(); ++i) {
    if (input.ids[i] < 0 || input.ids[i] >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", input.ids[i], " at position ", i,
                                                     " is outside the vocabulary [0, ",
                                                     config_.vocab_size, ")"));
    }
  }
  for (int32_t type : input.type_ids) {
    if (type < 0 || type >= std::max<int64_t>(config_.type_vocab_size, 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token type id ", type, " is outside [0, ", config_.type_vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> BertModel::Forward(const std::vector<EncoderInput>& batch,
                                          backends::SequenceOffsets* offsets) const {
  const EncoderConfig& c = config_;
  if (batch.empty()) return absl::InvalidArgumentError("Forward: the batch is empty");
  std::vector<int32_t> ids, types, positions;
  offsets->assign(1, 0);
  for (size_t b = 0; b < batch.size(); ++b) {
    const EncoderInput& input = batch[b];
    const int64_t len = static_cast<int64_t>(input.ids.size());
    if (len == 0) return absl::InvalidArgumentError(absl::StrCat("input ", b, " has no tokens"));
    if (len + c.position_offset() > c.max_position_embeddings) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", b, " has ", len, " tokens; the model accepts at most ",
                       c.max_position_embeddings - c.position_offset()));
    }
    if (!input.type_ids.empty() && input.type_ids.size() != input.ids.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", b, ": ", input.type_ids.size(), " type ids for ", len, " tokens"));
    }
    for (int64_t t = 0; t < len; ++t) {
      ids.push_back(input.ids[static_cast<size_t>(t)]);
      types.push_back(input.type_ids.empty() ? 0 : input.type_ids[static_cast<size_t>(t)]);
      positions.push_back(static_cast<int32_t>(t + c.position_offset()));
    }
    offsets->push_back(static_cast<int64_t>(ids.size()));
  }

  // [T, H] embeddings: word + position + token type, then LayerNorm.
  TF_ASSIGN_OR_RETURN(Tensor x, backends::Gather(word_embeddings_, ids));
  TF_ASSIGN_OR_RETURN(Tensor pos, backends::Gather(position_embeddings_, positions));
  if (absl::Status s = backends::AddInPlace(x, pos); !s.ok()) return s;
  if (token_type_embeddings_.defined()) {
    TF_ASSIGN_OR_RETURN(Tensor type, backends::Gather(token_type_embeddings_, types));
    if (absl::Status s = backends::AddInPlace(x, type); !s.ok()) return s;
  }
  const float eps = static_cast<float>(c.layer_norm_eps);
  TF_ASSIGN_OR_RETURN(
      x, backends::LayerNorm(x, Tensor(), embedding_norm_gamma_, embedding_norm_beta_, eps));

  for (const Layer& layer : layers_) {
    TF_ASSIGN_OR_RETURN(Tensor qkv,
                        backends::LinearKN(x, layer.qkv_weight, layer.qkv_bias));  // [T, 3H]
    TF_ASSIGN_OR_RETURN(Tensor context,
                        backends::PackedSelfAttention(qkv, static_cast<int>(c.num_attention_heads),
                                                      *offsets));  // [T, H]
    TF_ASSIGN_OR_RETURN(Tensor attended, backends::LinearKN(context, layer.attention_out_weight,
                                                            layer.attention_out_bias));  // [T, H]
    TF_ASSIGN_OR_RETURN(x, backends::LayerNorm(attended, x, layer.attention_norm_gamma,
                                               layer.attention_norm_beta, eps));
    TF_ASSIGN_OR_RETURN(Tensor inner, backends::LinearKN(x, layer.intermediate_weight,
                                                         layer.intermediate_bias));  // [T, I]
    if (absl::Status s = backends::GeluInPlace(inner); !s.ok()) return s;
    TF_ASSIGN_OR_RETURN(Tensor out, backends::LinearKN(inner, layer.output_weight,
                                                       layer.output_bias));  // [T, H]
    TF_ASSIGN_OR_RETURN(
        x, backends::LayerNorm(out, x, layer.output_norm_gamma, layer.output_norm_beta, eps));
  }
  return x;
}

absl::StatusOr<Tensor> BertModel::ClassifierLogits(const Tensor& hidden,
                                                   const backends::SequenceOffsets& offsets) const {
  if (!has_classifier()) {
    return absl::FailedPreconditionError("the model has no sequence-classification head");
  }
  TF_ASSIGN_OR_RETURN(Tensor first, backends::Pool(hidden, offsets, backends::PoolingMode::kFirst));
  TF_ASSIGN_OR_RETURN(Tensor pooled,
                      backends::Linear(first, pooler_weight_, pooler_bias_));  // [B, H]
  if (absl::Status s = backends::TanhInPlace(pooled); !s.ok()) return s;
  return backends::Linear(pooled, classifier_weight_, classifier_bias_);  // [B, labels]
}

}  // namespace trustformers::models
