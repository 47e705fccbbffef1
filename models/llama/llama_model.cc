#include "models/llama/llama_model.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/cpu/decoder_ops.h"
#include "backends/cpu/quant/dequantize.h"
#include "backends/status_macros.h"
#include "models/loader/json_file.h"

namespace trustformers::models {

namespace cpu = backends::cpu;

namespace {

absl::StatusOr<GgmlType> GgmlTypeOf(backends::DType dtype, const std::string& name) {
  switch (dtype) {
    case backends::DType::kF32:
      return GgmlType::kF32;
    case backends::DType::kF16:
      return GgmlType::kF16;
    case backends::DType::kBF16:
      return GgmlType::kBF16;
    default:
      return absl::InvalidArgumentError(absl::StrCat("weight ", name, " is ",
                                                     backends::DTypeName(dtype),
                                                     "; F32, F16 and BF16 are supported"));
  }
}

// Hugging Face parameter names to the GGUF names Bind() looks up.
std::string GgufName(const std::string& hf) {
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  constexpr absl::string_view kPrefix = "model.layers.";
  if (absl::StartsWith(hf, kPrefix)) {
    const size_t dot = hf.find('.', kPrefix.size());
    if (dot != std::string::npos) {
      const std::string index = hf.substr(kPrefix.size(), dot - kPrefix.size());
      const std::string rest = hf.substr(dot + 1);
      for (const auto& [from, to] : kLayer) {
        if (rest == from) return absl::StrCat("blk.", index, ".", to);
      }
    }
  }
  return {};  // not a weight the model uses (rotary caches and the like)
}

template <typename T>
absl::StatusOr<T> ConfigValue(const nlohmann::json& config, const std::string& folder,
                              const char* key, std::optional<T> fallback) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(
        absl::StrCat(folder, "/config.json: '", key, "' is required"));
  }
  if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(folder, "/config.json: '", key, "' must be a positive integer"));
    }
  } else {
    if (!it->is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(folder, "/config.json: '", key, "' must be a number"));
    }
  }
  return it->get<T>();
}

// Hugging Face's "llama3" rope scaling as per-pair divisors of the frequencies: long wavelengths
// slowed by `factor`, short ones kept, a smooth blend between.
std::vector<float> Llama3FreqFactors(const nlohmann::json& s, float base, int64_t dims) {
  const double factor = s.value("factor", 8.0), low = s.value("low_freq_factor", 1.0),
               high = s.value("high_freq_factor", 4.0),
               old_context = s.value("original_max_position_embeddings", 8192.0);
  std::vector<float> factors;
  for (int64_t i = 0; i < dims / 2; ++i) {
    const double inv_freq =
        std::pow(static_cast<double>(base), -2.0 * i / static_cast<double>(dims));
    const double wavelen = 2 * M_PI / inv_freq;
    double scaled = inv_freq;
    if (wavelen > old_context / low) {
      scaled = inv_freq / factor;
    } else if (wavelen >= old_context / high) {
      const double smooth = (old_context / wavelen - low) / (high - low);
      scaled = (1 - smooth) * inv_freq / factor + smooth * inv_freq;
    }
    factors.push_back(static_cast<float>(inv_freq / scaled));
  }
  return factors;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(std::unique_ptr<GgufFile> file) {
  if (file == nullptr) return absl::InvalidArgumentError("no GGUF file");
  std::unique_ptr<LlamaModel> model(new LlamaModel());
  model->source_ = file->path();
  TF_ASSIGN_OR_RETURN(model->config_, LlamaConfigFromGguf(*file));
  for (const GgufTensor& t : file->tensors()) {
    model->tensors_[t.name] = TensorRef{t.type, t.shape, t.bytes};
  }
  model->gguf_ = std::move(file);
  TF_RETURN_IF_ERROR(model->Bind());
  return model;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::FromHfFolder(const std::string& folder) {
  TF_ASSIGN_OR_RETURN(nlohmann::json config, ReadJsonFile(folder + "/config.json"));
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(folder, "/config.json is not an object"));
  }
  std::unique_ptr<LlamaModel> model(new LlamaModel());
  model->source_ = folder;
  model->cache_element_ = KvElement::kF32;
  LlamaConfig& c = model->config_;
  c.architecture = config.value("model_type", std::string());
  TF_ASSIGN_OR_RETURN(c.layers, ConfigValue<int64_t>(config, folder, "num_hidden_layers", {}));
  TF_ASSIGN_OR_RETURN(c.hidden, ConfigValue<int64_t>(config, folder, "hidden_size", {}));
  TF_ASSIGN_OR_RETURN(c.intermediate,
                      ConfigValue<int64_t>(config, folder, "intermediate_size", {}));
  TF_ASSIGN_OR_RETURN(c.heads, ConfigValue<int64_t>(config, folder, "num_attention_heads", {}));
  TF_ASSIGN_OR_RETURN(c.kv_heads,
                      ConfigValue<int64_t>(config, folder, "num_key_value_heads", c.heads));
  TF_ASSIGN_OR_RETURN(c.context_length,
                      ConfigValue<int64_t>(config, folder, "max_position_embeddings", {}));
  TF_ASSIGN_OR_RETURN(c.rms_epsilon, ConfigValue<float>(config, folder, "rms_norm_eps", 1e-6f));
  // transformers 5 writes the RoPE settings as one "rope_parameters" object; older files have
  // "rope_theta" and "rope_scaling".
  const nlohmann::json* rope = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (const auto it = config.find(key); it != config.end() && it->is_object()) rope = &*it;
  }
  TF_ASSIGN_OR_RETURN(
      c.rope.freq_base,
      ConfigValue<float>(rope != nullptr && rope->contains("rope_theta") ? *rope : config, folder,
                         "rope_theta", 1e4f));
  if (const std::string act = config.value("hidden_act", std::string("silu")); act != "silu") {
    return absl::UnimplementedError(
        absl::StrCat(folder, ": hidden_act '", act, "' is not supported (silu is)"));
  }
  if (c.layers > kMaxGgufBlockCount || c.hidden % c.heads != 0 || c.heads % c.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(folder, "/config.json: ", c.layers, " layers, ", c.heads, " heads and ",
                     c.kv_heads, " key/value heads do not fit a hidden size of ", c.hidden));
  }
  c.head_dim = c.hidden / c.heads;
  if (config.contains("head_dim") && !config["head_dim"].is_null() &&
      config["head_dim"] != c.head_dim) {
    return absl::UnimplementedError(absl::StrCat(folder, ": head_dim ", config["head_dim"].dump(),
                                                 " other than hidden_size / heads"));
  }
  c.rope.rotary_dims = c.head_dim;
  c.rope.style = backends::cpu::RopeStyle::kHalves;  // Hugging Face keeps q/k unpermuted
  if (rope != nullptr) {
    const std::string type = rope->value("rope_type", rope->value("type", std::string("default")));
    if (type == "linear") {
      c.rope.freq_scale = 1.0f / rope->value("factor", 1.0f);
    } else if (type == "llama3") {
      model->rope_factors_ = Llama3FreqFactors(*rope, c.rope.freq_base, c.rope.rotary_dims);
    } else if (type != "default") {
      return absl::UnimplementedError(absl::StrCat(folder, ": rope_scaling type '", type,
                                                   "' is not supported (linear and llama3 are)"));
    }
  }
  c.rope.freq_factors = model->rope_factors_;

  TF_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                      SafetensorsCheckpoint::Open(folder));
  model->checkpoint_ = std::move(checkpoint);
  for (const SafetensorsTensor* t : model->checkpoint_->AllTensors()) {
    const std::string name = GgufName(t->name);
    if (name.empty()) continue;
    TF_ASSIGN_OR_RETURN(GgmlType type, GgmlTypeOf(t->dtype, t->name));
    model->tensors_[name] = TensorRef{type, t->shape, t->bytes};
  }
  if (config.value("tie_word_embeddings", false) == false &&
      model->tensors_.find("output.weight") == model->tensors_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(folder, ": tie_word_embeddings is false but lm_head.weight is missing"));
  }
  TF_RETURN_IF_ERROR(model->Bind());
  return model;
}

absl::StatusOr<cpu::QuantMatrix> LlamaModel::Matrix(const std::string& name, int64_t rows,
                                                    int64_t cols) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor ", name, " is missing"));
  }
  const TensorRef& t = it->second;
  if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols) {
    std::string shape;
    for (int64_t d : t.shape) absl::StrAppend(&shape, shape.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor ", name, " is [", shape,
                                                   "], expected [", rows, ", ", cols, "]"));
  }
  cpu::QuantMatrix m{t.type, rows, cols, t.bytes.data()};
  if (absl::Status s = cpu::CheckQuantMatrix(m); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor ", name, ": ", s.message()));
  }
  return m;
}

absl::StatusOr<const float*> LlamaModel::Vector(const std::string& name, int64_t length,
                                                bool optional) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    if (optional) return nullptr;
    return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor ", name, " is missing"));
  }
  const TensorRef& t = it->second;
  int64_t count = 1;
  for (int64_t d : t.shape) count *= d;
  const bool floats =
      t.type == GgmlType::kF32 || t.type == GgmlType::kF16 || t.type == GgmlType::kBF16;
  if (!floats || t.shape.size() != 1 || count != length) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": tensor ", name, " must be a float vector of ", length, " values"));
  }
  if (t.type == GgmlType::kF32 &&
      reinterpret_cast<uintptr_t>(t.bytes.data()) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(t.bytes.data());
  }
  // Half-precision (or unaligned) vectors are small: keep a float copy.
  std::vector<float>& copy = converted_.emplace_back(static_cast<size_t>(length));
  TF_RETURN_IF_ERROR(cpu::Dequantize(t.type, t.bytes, length, copy.data()));
  return copy.data();
}

absl::Status LlamaModel::Bind() {
  const LlamaConfig& c = config_;
  const auto embd = tensors_.find("token_embd.weight");
  if (embd == tensors_.end() || embd->second.shape.size() != 2 ||
      embd->second.shape[1] != c.hidden) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": tensor token_embd.weight must exist as [vocab, ", c.hidden, "]"));
  }
  config_.vocab_size = embd->second.shape[0];
  TF_ASSIGN_OR_RETURN(embeddings_, Matrix("token_embd.weight", c.vocab_size, c.hidden));
  if (tensors_.count("output.weight") > 0) {
    TF_ASSIGN_OR_RETURN(output_, Matrix("output.weight", c.vocab_size, c.hidden));
  } else {
    output_ = embeddings_;
  }
  TF_ASSIGN_OR_RETURN(output_norm_, Vector("output_norm.weight", c.hidden, false));
  if (tensors_.count("rope_freqs.weight") > 0) {
    TF_ASSIGN_OR_RETURN(const float* f, Vector("rope_freqs.weight", c.rope.rotary_dims / 2, false));
    rope_factors_.assign(f, f + c.rope.rotary_dims / 2);
    config_.rope.freq_factors = rope_factors_;
  }

  const int64_t kv_width = c.kv_heads * c.head_dim;
  layers_.resize(static_cast<size_t>(c.layers));
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = absl::StrCat("blk.", i, ".");
    Layer& l = layers_[static_cast<size_t>(i)];
    TF_ASSIGN_OR_RETURN(l.attention_norm, Vector(p + "attn_norm.weight", c.hidden, false));
    TF_ASSIGN_OR_RETURN(l.q, Matrix(p + "attn_q.weight", c.hidden, c.hidden));
    TF_ASSIGN_OR_RETURN(l.k, Matrix(p + "attn_k.weight", kv_width, c.hidden));
    TF_ASSIGN_OR_RETURN(l.v, Matrix(p + "attn_v.weight", kv_width, c.hidden));
    TF_ASSIGN_OR_RETURN(l.o, Matrix(p + "attn_output.weight", c.hidden, c.hidden));
    TF_ASSIGN_OR_RETURN(l.q_bias, Vector(p + "attn_q.bias", c.hidden, true));
    TF_ASSIGN_OR_RETURN(l.k_bias, Vector(p + "attn_k.bias", kv_width, true));
    TF_ASSIGN_OR_RETURN(l.v_bias, Vector(p + "attn_v.bias", kv_width, true));
    TF_ASSIGN_OR_RETURN(l.ffn_norm, Vector(p + "ffn_norm.weight", c.hidden, false));
    TF_ASSIGN_OR_RETURN(l.gate, Matrix(p + "ffn_gate.weight", c.intermediate, c.hidden));
    TF_ASSIGN_OR_RETURN(l.up, Matrix(p + "ffn_up.weight", c.intermediate, c.hidden));
    TF_ASSIGN_OR_RETURN(l.down, Matrix(p + "ffn_down.weight", c.hidden, c.intermediate));
  }
  for (const auto& [name, t] : tensors_) {
    int64_t count = 1;
    for (int64_t d : t.shape) count *= d;
    parameter_count_ += count;
  }
  return absl::OkStatus();
}

int64_t LlamaModel::weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, t] : tensors_) bytes += static_cast<int64_t>(t.bytes.size());
  return bytes;
}

int64_t LlamaModel::decode_bytes_per_token() const {
  const int64_t embeddings = embeddings_.rows * embeddings_.row_bytes();
  return weight_bytes() - (output_.data == embeddings_.data ? 0 : embeddings);
}

KvCache LlamaModel::NewCache(int64_t max_positions) const {
  const int64_t limit =
      max_positions > 0 ? std::min(max_positions, config_.context_length) : config_.context_length;
  return KvCache(config_.layers, config_.kv_heads * config_.head_dim, limit, cache_element_);
}

namespace {

void AddBias(float* x, const float* bias, int64_t rows, int64_t n, int64_t stride) {
  if (bias == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) x[r * stride + i] += bias[i];
  }
}

// llama.cpp runs a prompt through its matrix kernels and each sampled token alone through its
// dot-product kernels; their attention sums differ in order (cpu::AttentionOrder). Deciding by
// position rather than by the step's shape keeps a sequence's bits whatever its chunking.
int64_t PromptOrderUntil(const DecoderModel::SequenceStep& step) {
  if (step.prompt_length < 0) {
    return step.tokens.size() > 1 ? std::numeric_limits<int64_t>::max() : 0;
  }
  return step.prompt_length > 1 ? step.prompt_length : 0;  // a one-token prompt runs alone
}

}  // namespace

absl::Status LlamaModel::ForwardBatch(std::span<const SequenceStep> steps,
                                      std::vector<float>* logits) const {
  const LlamaConfig& c = config_;
  const int64_t h = c.hidden, kv_width = c.kv_heads * c.head_dim, ffn = c.intermediate;
  TF_RETURN_IF_ERROR(PrepareSteps(steps));
  int64_t rows = 0, out_rows = 0;
  for (const SequenceStep& step : steps) {
    const auto n = static_cast<int64_t>(step.tokens.size());
    rows += n;
    out_rows += step.all_logits ? n : 1;
  }

  // The steps' tokens are the rows of one activation matrix, each at its own position.
  std::vector<int32_t> tokens, positions;
  std::vector<int64_t> offsets;  // first row of each step
  tokens.reserve(static_cast<size_t>(rows));
  for (const SequenceStep& step : steps) {
    offsets.push_back(static_cast<int64_t>(tokens.size()));
    for (size_t i = 0; i < step.tokens.size(); ++i) {
      tokens.push_back(step.tokens[i]);
      positions.push_back(static_cast<int32_t>(step.kv->length() + static_cast<int64_t>(i)));
    }
  }

  std::vector<float> x(static_cast<size_t>(rows * h)), normed(x.size()), q(x.size()),
      attention(x.size()), projected(x.size());
  std::vector<float> k(static_cast<size_t>(rows * kv_width)), v(k.size());
  std::vector<float> gate(static_cast<size_t>(rows * ffn)), up(gate.size());
  std::vector<uint8_t> quantized, quantized_ffn;

  const int64_t embd_row = embeddings_.row_bytes();
  for (int64_t r = 0; r < rows; ++r) {
    const std::span<const uint8_t> row(embeddings_.data + tokens[r] * embd_row,
                                       static_cast<size_t>(embd_row));
    TF_RETURN_IF_ERROR(cpu::Dequantize(embeddings_.type, row, h, x.data() + r * h));
  }

  const bool f16 = cache_element_ == KvElement::kF16;
  std::vector<KvRowTable<uint16_t>> half_rows(f16 ? steps.size() : 0);
  std::vector<KvRowTable<float>> float_rows(f16 ? 0 : steps.size());
  std::vector<cpu::AttentionSequence<uint16_t>> half_sequences(half_rows.size());
  std::vector<cpu::AttentionSequence<float>> float_sequences(float_rows.size());

  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const std::vector<float> angles = cpu::RopeAngles(positions.data(), rows, c.rope);
  for (int64_t li = 0; li < c.layers; ++li) {
    const Layer& l = layers_[static_cast<size_t>(li)];
    cpu::RmsNorm(x.data(), l.attention_norm, c.rms_epsilon, rows, h, normed.data());
    // q, k and v read the same input: quantize it once when they share a format.
    TF_RETURN_IF_ERROR(
        cpu::QuantizeActivations(normed.data(), rows, h, h, l.q.activation_format(), &quantized));
    if (l.k.activation_format() == l.q.activation_format() &&
        l.v.activation_format() == l.q.activation_format()) {
      const cpu::QuantProduct products[] = {
          {&l.q, q.data(), h}, {&l.k, k.data(), kv_width}, {&l.v, v.data(), kv_width}};
      TF_RETURN_IF_ERROR(cpu::QuantMatmulMany(products, quantized, rows));
    } else {
      TF_RETURN_IF_ERROR(cpu::QuantMatmul(l.q, quantized, rows, q.data(), h));
      TF_RETURN_IF_ERROR(
          cpu::QuantLinear(normed.data(), rows, h, l.k, k.data(), kv_width, &quantized_ffn));
      TF_RETURN_IF_ERROR(
          cpu::QuantLinear(normed.data(), rows, h, l.v, v.data(), kv_width, &quantized_ffn));
    }
    AddBias(q.data(), l.q_bias, rows, h, h);
    AddBias(k.data(), l.k_bias, rows, kv_width, kv_width);
    AddBias(v.data(), l.v_bias, rows, kv_width, kv_width);
    cpu::Rope(q.data(), rows, h, c.heads, c.head_dim, angles.data(), c.rope);
    cpu::Rope(k.data(), rows, kv_width, c.kv_heads, c.head_dim, angles.data(), c.rope);

    // Each step's new keys and values go to its own sequence's rows; attention reads them back.
    for (size_t s = 0; s < steps.size(); ++s) {
      const SequenceStep& step = steps[s];
      const int64_t first = step.kv->length(), n = static_cast<int64_t>(step.tokens.size());
      const int64_t row0 = offsets[s];
      if (f16) {
        KvRowTable<uint16_t>& table = half_rows[s];
        table.Load(*step.kv, li, first + n);
        for (int64_t r = 0; r < n; ++r) {
          cpu::FloatsToHalves(k.data() + (row0 + r) * kv_width, kv_width, table.key(first + r));
          cpu::FloatsToHalves(v.data() + (row0 + r) * kv_width, kv_width, table.value(first + r));
        }
        half_sequences[s] = {q.data() + row0 * h,
                             h,
                             n,
                             first,
                             table.keys(),
                             table.values(),
                             attention.data() + row0 * h,
                             h,
                             PromptOrderUntil(step)};
      } else {
        KvRowTable<float>& table = float_rows[s];
        table.Load(*step.kv, li, first + n);
        for (int64_t r = 0; r < n; ++r) {
          std::copy_n(k.data() + (row0 + r) * kv_width, kv_width, table.key(first + r));
          std::copy_n(v.data() + (row0 + r) * kv_width, kv_width, table.value(first + r));
        }
        float_sequences[s] = {
            q.data() + row0 * h,         h, n, first, table.keys(), table.values(),
            attention.data() + row0 * h, h};
      }
    }
    if (f16) {
      cpu::CausalAttentionF16(half_sequences, c.heads, c.kv_heads, c.head_dim, scale);
    } else {
      cpu::CausalAttentionF32(float_sequences, c.heads, c.kv_heads, c.head_dim, scale);
    }
    TF_RETURN_IF_ERROR(
        cpu::QuantLinear(attention.data(), rows, h, l.o, projected.data(), h, &quantized));
    cpu::AddTo(x.data(), projected.data(), rows * h);

    cpu::RmsNorm(x.data(), l.ffn_norm, c.rms_epsilon, rows, h, normed.data());
    TF_RETURN_IF_ERROR(cpu::QuantizeActivations(normed.data(), rows, h, h,
                                                l.gate.activation_format(), &quantized));
    if (l.up.activation_format() == l.gate.activation_format()) {
      const cpu::QuantProduct products[] = {{&l.gate, gate.data(), ffn}, {&l.up, up.data(), ffn}};
      TF_RETURN_IF_ERROR(cpu::QuantMatmulMany(products, quantized, rows));
    } else {
      TF_RETURN_IF_ERROR(cpu::QuantMatmul(l.gate, quantized, rows, gate.data(), ffn));
      TF_RETURN_IF_ERROR(
          cpu::QuantLinear(normed.data(), rows, h, l.up, up.data(), ffn, &quantized_ffn));
    }
    cpu::SwiGlu(gate.data(), up.data(), rows * ffn);
    TF_RETURN_IF_ERROR(
        cpu::QuantLinear(gate.data(), rows, ffn, l.down, projected.data(), h, &quantized_ffn));
    cpu::AddTo(x.data(), projected.data(), rows * h);
  }

  // Only the rows whose logits are wanted go through the final norm and the output head.
  std::vector<float> wanted(static_cast<size_t>(out_rows * h));
  int64_t next = 0;
  for (size_t s = 0; s < steps.size(); ++s) {
    const auto n = static_cast<int64_t>(steps[s].tokens.size());
    const int64_t count = steps[s].all_logits ? n : 1;
    const float* from = x.data() + (offsets[s] + n - count) * h;
    std::copy_n(from, count * h, wanted.data() + next * h);
    next += count;
  }
  normed.resize(std::max(normed.size(), wanted.size()));
  cpu::RmsNorm(wanted.data(), output_norm_, c.rms_epsilon, out_rows, h, normed.data());
  logits->resize(static_cast<size_t>(out_rows * c.vocab_size));
  TF_RETURN_IF_ERROR(cpu::QuantLinear(normed.data(), out_rows, h, output_, logits->data(),
                                      c.vocab_size, &quantized));
  for (const SequenceStep& step : steps) step.kv->Advance(static_cast<int64_t>(step.tokens.size()));
  return absl::OkStatus();
}

}  // namespace trustformers::models
