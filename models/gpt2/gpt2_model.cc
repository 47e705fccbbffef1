#include "models/gpt2/gpt2_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backends/cpu/decoder_ops.h"
#include "backends/ops.h"
#include "backends/status_macros.h"
#include "models/loader/json_file.h"
#include "models/loader/weight_reader.h"

namespace trustformers::models {
namespace {

using backends::Tensor;

absl::StatusOr<int64_t> PositiveKey(const nlohmann::json& config, const std::string& folder,
                                    const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_number_integer() || it->get<int64_t>() <= 0 ||
      it->get<int64_t>() > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat(folder, "/config.json: '", key, "' must be a positive integer"));
  }
  return it->get<int64_t>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gpt2Model>> Gpt2Model::Load(const std::string& folder) {
  TF_ASSIGN_OR_RETURN(nlohmann::json config, ReadJsonFile(folder + "/config.json"));
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(folder, "/config.json is not an object"));
  }
  std::unique_ptr<Gpt2Model> model(new Gpt2Model());
  Gpt2Config& c = model->config_;
  TF_ASSIGN_OR_RETURN(c.vocab_size, PositiveKey(config, folder, "vocab_size"));
  TF_ASSIGN_OR_RETURN(c.positions, PositiveKey(config, folder, "n_positions"));
  TF_ASSIGN_OR_RETURN(c.hidden, PositiveKey(config, folder, "n_embd"));
  TF_ASSIGN_OR_RETURN(c.layers, PositiveKey(config, folder, "n_layer"));
  TF_ASSIGN_OR_RETURN(c.heads, PositiveKey(config, folder, "n_head"));
  c.inner = 4 * c.hidden;
  if (config.contains("n_inner") && !config["n_inner"].is_null()) {
    TF_ASSIGN_OR_RETURN(c.inner, PositiveKey(config, folder, "n_inner"));
  }
  if (config.contains("layer_norm_epsilon") && config["layer_norm_epsilon"].is_number()) {
    c.epsilon = config["layer_norm_epsilon"].get<float>();
  }
  if (c.hidden % c.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(folder, "/config.json: n_head ", c.heads,
                                                   " does not divide n_embd ", c.hidden));
  }
  const std::string activation = config.value("activation_function", std::string("gelu_new"));
  if (activation != "gelu_new" && activation != "gelu_pytorch_tanh") {
    return absl::UnimplementedError(absl::StrCat(folder, ": activation_function '", activation,
                                                 "' is not supported (gelu_new is)"));
  }
  for (const char* flag : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
    if (config.value(flag, false)) {
      return absl::UnimplementedError(absl::StrCat(folder, ": ", flag, " is not supported"));
    }
  }
  if (!config.value("scale_attn_weights", true)) {
    return absl::UnimplementedError(
        absl::StrCat(folder, ": scale_attn_weights false is not supported"));
  }

  TF_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                      SafetensorsCheckpoint::Open(folder));
  model->checkpoint_ = std::move(checkpoint);
  WeightReader w(model->checkpoint_, folder, {"transformer.", ""});
  const int64_t h = c.hidden;
  TF_ASSIGN_OR_RETURN(model->token_embeddings_, w.Read("wte.weight", {c.vocab_size, h}));
  TF_ASSIGN_OR_RETURN(model->position_embeddings_, w.Read("wpe.weight", {c.positions, h}));
  TF_ASSIGN_OR_RETURN(model->final_gamma_, w.Read("ln_f.weight", {h}));
  TF_ASSIGN_OR_RETURN(model->final_beta_, w.Read("ln_f.bias", {h}));
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = absl::StrCat("h.", i, ".");
    Layer l;
    TF_ASSIGN_OR_RETURN(l.ln1_gamma, w.Read(p + "ln_1.weight", {h}));
    TF_ASSIGN_OR_RETURN(l.ln1_beta, w.Read(p + "ln_1.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.qkv_weight, w.Read(p + "attn.c_attn.weight", {h, 3 * h}));
    TF_ASSIGN_OR_RETURN(l.qkv_bias, w.Read(p + "attn.c_attn.bias", {3 * h}));
    TF_ASSIGN_OR_RETURN(l.proj_weight, w.Read(p + "attn.c_proj.weight", {h, h}));
    TF_ASSIGN_OR_RETURN(l.proj_bias, w.Read(p + "attn.c_proj.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.ln2_gamma, w.Read(p + "ln_2.weight", {h}));
    TF_ASSIGN_OR_RETURN(l.ln2_beta, w.Read(p + "ln_2.bias", {h}));
    TF_ASSIGN_OR_RETURN(l.fc_weight, w.Read(p + "mlp.c_fc.weight", {h, c.inner}));
    TF_ASSIGN_OR_RETURN(l.fc_bias, w.Read(p + "mlp.c_fc.bias", {c.inner}));
    TF_ASSIGN_OR_RETURN(l.out_weight, w.Read(p + "mlp.c_proj.weight", {c.inner, h}));
    TF_ASSIGN_OR_RETURN(l.out_bias, w.Read(p + "mlp.c_proj.bias", {h}));
    model->layers_.push_back(std::move(l));
  }
  model->parameter_count_ = w.parameters();
  model->weight_bytes_ = w.parameters() * static_cast<int64_t>(sizeof(float));
  return model;
}

KvCache Gpt2Model::NewCache(int64_t max_positions) const {
  const int64_t limit =
      max_positions > 0 ? std::min(max_positions, config_.positions) : config_.positions;
  return KvCache(config_.layers, config_.hidden, limit, KvElement::kF32);
}

absl::Status Gpt2Model::ForwardBatch(std::span<const SequenceStep> steps,
                                     std::vector<float>* logits) const {
  TF_RETURN_IF_ERROR(PrepareSteps(steps));
  logits->clear();
  std::vector<float> step_logits;
  for (const SequenceStep& step : steps) {
    TF_RETURN_IF_ERROR(ForwardOne(step.tokens, step.kv, step.all_logits, &step_logits));
    logits->insert(logits->end(), step_logits.begin(), step_logits.end());
  }
  return absl::OkStatus();
}

absl::Status Gpt2Model::ForwardOne(std::span<const int32_t> tokens, SequenceKv* cache,
                                   bool all_logits, std::vector<float>* logits) const {
  const Gpt2Config& c = config_;
  const int64_t rows = static_cast<int64_t>(tokens.size());
  const int64_t h = c.hidden, first = cache->length(), head_dim = h / c.heads;

  Tensor x = Tensor::Empty(backends::DType::kF32, {rows, h});
  const float* wte = token_embeddings_.data<float>();
  const float* wpe = position_embeddings_.data<float>();
  float* xd = x.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < h; ++i)
      xd[r * h + i] = wte[tokens[r] * h + i] + wpe[(first + r) * h + i];
  }
  Tensor attention = Tensor::Empty(backends::DType::kF32, {rows, h});
  KvRowTable<float> kv_rows;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int64_t li = 0; li < c.layers; ++li) {
    const Layer& l = layers_[static_cast<size_t>(li)];
    TF_ASSIGN_OR_RETURN(Tensor normed,
                        backends::LayerNorm(x, Tensor(), l.ln1_gamma, l.ln1_beta, c.epsilon));
    TF_ASSIGN_OR_RETURN(Tensor qkv, backends::LinearKN(normed, l.qkv_weight, l.qkv_bias));
    const float* qkv_d = qkv.data<float>();
    kv_rows.Load(*cache, li, first + rows);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(kv_rows.key(first + r), qkv_d + r * 3 * h + h,
                  static_cast<size_t>(h) * sizeof(float));
      std::memcpy(kv_rows.value(first + r), qkv_d + r * 3 * h + 2 * h,
                  static_cast<size_t>(h) * sizeof(float));
    }
    const backends::cpu::AttentionSequence<float> sequence{
        qkv_d, 3 * h, rows, first, kv_rows.keys(), kv_rows.values(), attention.data<float>(), h};
    backends::cpu::CausalAttentionF32(std::span(&sequence, 1), c.heads, c.heads, head_dim, scale);
    TF_ASSIGN_OR_RETURN(Tensor projected,
                        backends::LinearKN(attention, l.proj_weight, l.proj_bias));
    TF_RETURN_IF_ERROR(backends::AddInPlace(x, projected));
    TF_ASSIGN_OR_RETURN(normed,
                        backends::LayerNorm(x, Tensor(), l.ln2_gamma, l.ln2_beta, c.epsilon));
    TF_ASSIGN_OR_RETURN(Tensor hidden, backends::LinearKN(normed, l.fc_weight, l.fc_bias));
    backends::cpu::GeluTanh(hidden.data<float>(), hidden.element_count());
    TF_ASSIGN_OR_RETURN(Tensor out, backends::LinearKN(hidden, l.out_weight, l.out_bias));
    TF_RETURN_IF_ERROR(backends::AddInPlace(x, out));
  }
  const int64_t out_rows = all_logits ? rows : 1;
  const Tensor last = x.Rows(rows - out_rows, rows);
  TF_ASSIGN_OR_RETURN(Tensor normed,
                      backends::LayerNorm(last, Tensor(), final_gamma_, final_beta_, c.epsilon));
  TF_ASSIGN_OR_RETURN(Tensor out, backends::Linear(normed, token_embeddings_, Tensor()));
  logits->assign(out.data<float>(), out.data<float>() + out.element_count());
  cache->Advance(rows);
  return absl::OkStatus();
}

}  // namespace trustformers::models
