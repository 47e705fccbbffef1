#include "models/nn/bert_classifier.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "models/loader/json_file.h"
#include "models/loader/safetensors.h"
#include "models/loader/weight_reader.h"
#include "models/nn/durable_file.h"
#include "models/nn/functional.h"
#include "models/nn/state_dict.h"

namespace trustformers::nn {
namespace {

namespace fs = std::filesystem;

// Tokenizer files a saved folder takes over from the base model, so it is served as it is.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "vocab.txt"};

absl::StatusOr<Tensor> Read(models::WeightReader& reader, const std::string& name,
                            const Shape& shape) {
  TF_ASSIGN_OR_RETURN(backends::Tensor value, reader.Read(name, shape));
  return Tensor::from_backend(value, /*requires_grad=*/true);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BertForSequenceClassification>>
BertForSequenceClassification::FromPretrained(const std::string& folder,
                                              const BertClassifierOptions& options) {
  if (options.num_labels < 1 || options.num_labels > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_labels must be between 1 and 2^20, got ", options.num_labels));
  }
  if (!options.labels.empty() &&
      static_cast<int64_t>(options.labels.size()) != options.num_labels) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.labels.size(), " label names for ", options.num_labels, " labels"));
  }
  if (options.dropout >= 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dropout must be below 1, got ", options.dropout));
  }
  auto model = std::unique_ptr<BertForSequenceClassification>(new BertForSequenceClassification());
  TF_ASSIGN_OR_RETURN(model->config_, models::ReadEncoderConfig(folder));
  const models::EncoderConfig& c = model->config_;
  if (c.hidden_act != "gelu") {
    return absl::UnimplementedError(absl::StrCat("model '", folder, "': hidden_act '", c.hidden_act,
                                                 "' cannot be trained (gelu can)"));
  }
  if (c.position_embedding_type != "absolute") {
    return absl::UnimplementedError(absl::StrCat("model '", folder, "': position_embedding_type '",
                                                 c.position_embedding_type,
                                                 "' cannot be trained (absolute can)"));
  }
  model->base_folder_ = folder;
  model->hidden_dropout_ = options.dropout >= 0 ? options.dropout : c.hidden_dropout_prob;
  model->attention_dropout_ =
      options.dropout >= 0 ? options.dropout : c.attention_probs_dropout_prob;
  model->classifier_dropout_ = options.dropout >= 0        ? options.dropout
                               : c.classifier_dropout >= 0 ? c.classifier_dropout
                                                           : c.hidden_dropout_prob;
  model->dropout_generator_.Seed(options.seed ^ 0x5eed'd20b'0000'0001ull);
  for (int64_t i = 0; i < options.num_labels; ++i) {
    model->labels_.push_back(options.labels.empty() ? absl::StrCat("LABEL_", i)
                                                    : options.labels[static_cast<size_t>(i)]);
  }

  TF_ASSIGN_OR_RETURN(std::unique_ptr<models::SafetensorsCheckpoint> opened,
                      models::SafetensorsCheckpoint::Open(folder));
  models::WeightReader w(std::move(opened), folder, {"bert.", ""});
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  BertForSequenceClassification& m = *model;
  TF_ASSIGN_OR_RETURN(m.word_embeddings_,
                      Read(w, "embeddings.word_embeddings.weight", {c.vocab_size, h}));
  TF_ASSIGN_OR_RETURN(m.position_embeddings_, Read(w, "embeddings.position_embeddings.weight",
                                                   {c.max_position_embeddings, h}));
  if (c.type_vocab_size > 0) {
    TF_ASSIGN_OR_RETURN(m.token_type_embeddings_,
                        Read(w, "embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}));
  }
  TF_ASSIGN_OR_RETURN(m.embedding_norm_weight_, Read(w, "embeddings.LayerNorm.weight", {h}));
  TF_ASSIGN_OR_RETURN(m.embedding_norm_bias_, Read(w, "embeddings.LayerNorm.bias", {h}));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("encoder.layer.", i, ".");
    Layer l;
    TF_ASSIGN_OR_RETURN(l.query_weight, Read(w, p + "attention.self.query.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(l.query_bias, Read(w, p + "attention.self.query.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.key_weight, Read(w, p + "attention.self.key.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(l.key_bias, Read(w, p + "attention.self.key.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.value_weight, Read(w, p + "attention.self.value.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(l.value_bias, Read(w, p + "attention.self.value.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.attention_out_weight,
                        Read(w, p + "attention.output.dense.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(l.attention_out_bias, Read(w, p + "attention.output.dense.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.attention_norm_weight,
                        Read(w, p + "attention.output.LayerNorm.weight", {h}));
    TF_ASSIGN_OR_RETURN(l.attention_norm_bias, Read(w, p + "attention.output.LayerNorm.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.intermediate_weight,
                        Read(w, p + "intermediate.dense.weight", {inter, h}));
    TF_ASSIGN_OR_RETURN(l.intermediate_bias, Read(w, p + "intermediate.dense.bias", {inter}));
    TF_ASSIGN_OR_RETURN(l.output_weight, Read(w, p + "output.dense.weight", {h, inter}));
    TF_ASSIGN_OR_RETURN(l.output_bias, Read(w, p + "output.dense.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.output_norm_weight, Read(w, p + "output.LayerNorm.weight", {h}));
    TF_ASSIGN_OR_RETURN(l.output_norm_bias, Read(w, p + "output.LayerNorm.bias", {h}));
    m.layers_.push_back(std::move(l));
  }

  Generator init(options.seed);
  const float stddev = static_cast<float>(c.initializer_range);
  if (w.Has("pooler.dense.weight")) {
    TF_ASSIGN_OR_RETURN(m.pooler_weight_, Read(w, "pooler.dense.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(m.pooler_bias_, Read(w, "pooler.dense.bias", {h}));
  } else {
    m.pooler_weight_ = Tensor::randn({h, h}, init, stddev, true);
    m.pooler_bias_ = Tensor::zeros({h}, true);
  }
  const models::SafetensorsTensor* head = w.Lookup("classifier.weight");
  if (head != nullptr && head->shape == Shape{options.num_labels, h}) {
    TF_ASSIGN_OR_RETURN(m.classifier_weight_,
                        Read(w, "classifier.weight", {options.num_labels, h}));
    TF_ASSIGN_OR_RETURN(m.classifier_bias_, Read(w, "classifier.bias", {options.num_labels}));
    if (options.labels.empty() && static_cast<int64_t>(c.id2label.size()) == options.num_labels) {
      m.labels_ = c.id2label;
    }
  } else {
    m.classifier_weight_ = Tensor::randn({options.num_labels, h}, init, stddev, true);
    m.classifier_bias_ = Tensor::zeros({options.num_labels}, true);
  }
  return model;
}

std::vector<std::pair<std::string, Tensor>> BertForSequenceClassification::named_parameters()
    const {
  std::vector<std::pair<std::string, Tensor>> out = {
      {"bert.embeddings.word_embeddings.weight", word_embeddings_},
      {"bert.embeddings.position_embeddings.weight", position_embeddings_}};
  if (token_type_embeddings_.defined()) {
    out.emplace_back("bert.embeddings.token_type_embeddings.weight", token_type_embeddings_);
  }
  out.emplace_back("bert.embeddings.LayerNorm.weight", embedding_norm_weight_);
  out.emplace_back("bert.embeddings.LayerNorm.bias", embedding_norm_bias_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const std::string p = absl::StrCat("bert.encoder.layer.", i, ".");
    for (auto& [name, tensor] : std::vector<std::pair<const char*, const Tensor*>>{
             {"attention.self.query.weight", &l.query_weight},
             {"attention.self.query.bias", &l.query_bias},
             {"attention.self.key.weight", &l.key_weight},
             {"attention.self.key.bias", &l.key_bias},
             {"attention.self.value.weight", &l.value_weight},
             {"attention.self.value.bias", &l.value_bias},
             {"attention.output.dense.weight", &l.attention_out_weight},
             {"attention.output.dense.bias", &l.attention_out_bias},
             {"attention.output.LayerNorm.weight", &l.attention_norm_weight},
             {"attention.output.LayerNorm.bias", &l.attention_norm_bias},
             {"intermediate.dense.weight", &l.intermediate_weight},
             {"intermediate.dense.bias", &l.intermediate_bias},
             {"output.dense.weight", &l.output_weight},
             {"output.dense.bias", &l.output_bias},
             {"output.LayerNorm.weight", &l.output_norm_weight},
             {"output.LayerNorm.bias", &l.output_norm_bias}}) {
      out.emplace_back(p + name, *tensor);
    }
  }
  out.emplace_back("bert.pooler.dense.weight", pooler_weight_);
  out.emplace_back("bert.pooler.dense.bias", pooler_bias_);
  out.emplace_back("classifier.weight", classifier_weight_);
  out.emplace_back("classifier.bias", classifier_bias_);
  return out;
}

absl::Status BertForSequenceClassification::Validate(const BertInputs& in) const {
  const models::EncoderConfig& c = config_;
  if (in.batch < 1 || in.length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("BERT: empty batch (", in.batch, " x ", in.length, ")"));
  }
  const auto cells = static_cast<size_t>(in.batch * in.length);
  if (in.ids.size() != cells || (!in.type_ids.empty() && in.type_ids.size() != cells)) {
    return absl::InvalidArgumentError(absl::StrCat("BERT: ", in.ids.size(), " ids and ",
                                                   in.type_ids.size(), " type ids for a ", in.batch,
                                                   " x ", in.length, " batch"));
  }
  if (!in.keep.empty()) {
    if (static_cast<int64_t>(in.keep.size()) != in.batch) {
      return absl::InvalidArgumentError("BERT: the attention mask has another batch size");
    }
    for (const auto& row : in.keep) {
      if (static_cast<int64_t>(row.size()) != in.length) {
        return absl::InvalidArgumentError("BERT: an attention mask row has another length");
      }
    }
  }
  if (in.length + c.position_offset() > c.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("BERT: sequences of ", in.length, " tokens; the model accepts at most ",
                     c.max_position_embeddings - c.position_offset()));
  }
  for (size_t i = 0; i < cells; ++i) {
    if (in.ids[i] < 0 || in.ids[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BERT: token id ", in.ids[i], " is outside the vocabulary [0, ", c.vocab_size, ")"));
    }
    if (!in.type_ids.empty() &&
        (in.type_ids[i] < 0 || in.type_ids[i] >= std::max<int64_t>(c.type_vocab_size, 1))) {
      return absl::InvalidArgumentError(absl::StrCat("BERT: token type id ", in.type_ids[i],
                                                     " is outside [0, ", c.type_vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> BertForSequenceClassification::Dropout(const Tensor& x, double p) {
  return dropout(x, static_cast<float>(p), training(), dropout_generator_);
}

absl::StatusOr<Tensor> BertForSequenceClassification::SelfAttention(const Layer& l, const Tensor& x,
                                                                    const Tensor& mask,
                                                                    const Packing& packing) {
  const int64_t b = packing.batch, t = packing.length;
  const int64_t heads = config_.num_attention_heads, d = config_.head_dim();
  // [N, H] packed rows -> [B, heads, T, d], padding rows zero (the mask hides them as keys).
  auto split_heads = [&](const Tensor& weight, const Tensor& bias) -> absl::StatusOr<Tensor> {
    TF_ASSIGN_OR_RETURN(Tensor y, linear(x, weight, bias));  // [N, H]
    if (packing.packed()) {
      TF_ASSIGN_OR_RETURN(y, scatter_rows(y, packing.rows, b * t));  // [B * T, H]
    }
    TF_ASSIGN_OR_RETURN(y, reshape(y, {b, t, heads, d}));
    return transpose(y, 1, 2);
  };
  TF_ASSIGN_OR_RETURN(Tensor q, split_heads(l.query_weight, l.query_bias));
  // Scaled before the product: [B, heads, T, d] is smaller than the scores [B, heads, T, T].
  q = mul(q, 1.0f / std::sqrt(static_cast<float>(d)));
  TF_ASSIGN_OR_RETURN(Tensor k, split_heads(l.key_weight, l.key_bias));
  TF_ASSIGN_OR_RETURN(Tensor v, split_heads(l.value_weight, l.value_bias));
  TF_ASSIGN_OR_RETURN(Tensor k_t, transpose(k, -2, -1));  // [B, heads, d, T]
  TF_ASSIGN_OR_RETURN(Tensor scores, matmul(q, k_t));     // [B, heads, T, T]
  TF_ASSIGN_OR_RETURN(scores, add(scores, mask));         // mask [B, 1, 1, T]
  TF_ASSIGN_OR_RETURN(Tensor probs, softmax(scores));
  TF_ASSIGN_OR_RETURN(probs, Dropout(probs, attention_dropout_));
  TF_ASSIGN_OR_RETURN(Tensor context, matmul(probs, v));   // [B, heads, T, d]
  TF_ASSIGN_OR_RETURN(context, transpose(context, 1, 2));  // [B, T, heads, d]
  TF_ASSIGN_OR_RETURN(context, reshape(context, {b * t, heads * d}));
  if (!packing.packed()) return context;  // [B * T, H]
  return index(context, packing.rows);    // [N, H]
}

absl::StatusOr<Tensor> BertForSequenceClassification::logits(const BertInputs& in) {
  if (absl::Status s = Validate(in); !s.ok()) return s;
  const models::EncoderConfig& c = config_;
  const int64_t b = in.batch, t = in.length;
  const float eps = static_cast<float>(c.layer_norm_eps);

  // Padding never changes a real token's result (it is masked as a key and pooled from no
  // row), so every layer but attention runs on the real tokens only, packed: rows N <= B * T.
  // With left padding the pooled first position is a padding token, computed as transformers
  // computes it: then every position is a row.
  std::vector<std::vector<bool>> keep = in.keep;
  if (keep.empty()) {
    keep.assign(static_cast<size_t>(b), std::vector<bool>(static_cast<size_t>(t), true));
  }
  bool first_real = true;
  for (const auto& row : keep) first_real = first_real && row[0];
  Packing packing;
  packing.batch = b;
  packing.length = t;
  std::vector<int64_t> first;  // each sequence's first row
  for (int64_t r = 0; r < b; ++r) {
    first.push_back(static_cast<int64_t>(packing.rows.size()));
    for (int64_t p = 0; p < t; ++p) {
      if (!first_real || keep[static_cast<size_t>(r)][static_cast<size_t>(p)]) {
        packing.rows.push_back(r * t + p);
      }
    }
  }
  std::vector<int64_t> ids, positions, types;
  for (int64_t cell : packing.rows) {
    ids.push_back(in.ids[static_cast<size_t>(cell)]);
    positions.push_back(cell % t + c.position_offset());
    types.push_back(in.type_ids.empty() ? 0 : in.type_ids[static_cast<size_t>(cell)]);
  }

  // Embeddings: word + position + token type, normalised.  [N, H]
  TF_ASSIGN_OR_RETURN(Tensor x, index(word_embeddings_, ids));
  TF_ASSIGN_OR_RETURN(Tensor pos, index(position_embeddings_, positions));
  TF_ASSIGN_OR_RETURN(x, add(x, pos));
  if (token_type_embeddings_.defined()) {
    TF_ASSIGN_OR_RETURN(Tensor type, index(token_type_embeddings_, types));
    TF_ASSIGN_OR_RETURN(x, add(x, type));
  }
  TF_ASSIGN_OR_RETURN(x, layer_norm(x, embedding_norm_weight_, embedding_norm_bias_, eps));
  TF_ASSIGN_OR_RETURN(x, Dropout(x, hidden_dropout_));
  TF_ASSIGN_OR_RETURN(Tensor mask, padding_mask(keep));  // [B, 1, 1, T]

  for (const Layer& l : layers_) {
    TF_ASSIGN_OR_RETURN(Tensor context, SelfAttention(l, x, mask, packing));  // [N, H]
    TF_ASSIGN_OR_RETURN(Tensor attended,
                        linear(context, l.attention_out_weight, l.attention_out_bias));
    TF_ASSIGN_OR_RETURN(attended, Dropout(attended, hidden_dropout_));
    TF_ASSIGN_OR_RETURN(attended, add(attended, x));
    TF_ASSIGN_OR_RETURN(x, layer_norm(attended, l.attention_norm_weight, l.attention_norm_bias,
                                      eps));  // [N, H]
    TF_ASSIGN_OR_RETURN(Tensor inner, linear(x, l.intermediate_weight, l.intermediate_bias));
    TF_ASSIGN_OR_RETURN(inner, gelu(inner));  // [N, I]
    TF_ASSIGN_OR_RETURN(Tensor out, linear(inner, l.output_weight, l.output_bias));
    TF_ASSIGN_OR_RETURN(out, Dropout(out, hidden_dropout_));
    TF_ASSIGN_OR_RETURN(out, add(out, x));
    TF_ASSIGN_OR_RETURN(x, layer_norm(out, l.output_norm_weight, l.output_norm_bias, eps));
  }

  // Pooler on each sequence's first token, then the head.
  TF_ASSIGN_OR_RETURN(Tensor cls, index(x, first));  // [B, H]
  TF_ASSIGN_OR_RETURN(Tensor pooled, linear(cls, pooler_weight_, pooler_bias_));
  TF_ASSIGN_OR_RETURN(pooled, tanh(pooled));
  TF_ASSIGN_OR_RETURN(pooled, Dropout(pooled, classifier_dropout_));
  return linear(pooled, classifier_weight_, classifier_bias_);  // [B, labels]
}

absl::StatusOr<Tensor> BertForSequenceClassification::forward(const Tensor& x) {
  if (!x.defined() || x.rank() != 2) {
    return absl::InvalidArgumentError("BERT: forward takes token ids [B, T]");
  }
  BertInputs in;
  in.batch = x.dim(0);
  in.length = x.dim(1);
  for (float id : x.to_vec()) in.ids.push_back(static_cast<int64_t>(id));
  return logits(in);
}

absl::Status BertForSequenceClassification::SavePretrained(const std::string& folder) const {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", folder, "': ", ec.message()));
  }
  TF_ASSIGN_OR_RETURN(nlohmann::json config,
                      models::ReadJsonFile((fs::path(base_folder_) / "config.json").string()));
  config["architectures"] = {"BertForSequenceClassification"};
  config["id2label"] = nlohmann::json::object();
  config["label2id"] = nlohmann::json::object();
  for (size_t i = 0; i < labels_.size(); ++i) {
    config["id2label"][std::to_string(i)] = labels_[i];
    config["label2id"][labels_[i]] = i;
  }
  config["problem_type"] = "single_label_classification";
  config["torch_dtype"] = "float32";
  config.erase("_name_or_path");
  if (absl::Status s =
          WriteFileAtomically((fs::path(folder) / "config.json").string(), config.dump(2) + "\n");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = save_state_dict(*this, (fs::path(folder) / "model.safetensors").string());
      !s.ok()) {
    return s;
  }
  for (const char* name : kTokenizerFiles) {
    const fs::path from = fs::path(base_folder_) / name;
    if (!fs::exists(from)) continue;
    std::ifstream in(from, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::DataLossError(absl::StrCat("cannot read '", from.string(), "'"));
    }
    if (absl::Status s = WriteFileAtomically((fs::path(folder) / name).string(), bytes); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::nn
