#include "models/llama/llama_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backends/cpu/decoder_ops.h"
#include "backends/cpu/quant/dequantize.h"
#include "backends/status_macros.h"

namespace trustformers::models {

namespace cpu = backends::cpu;

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(std::unique_ptr<GgufFile> file) {
  if (file == nullptr) return absl::InvalidArgumentError("no GGUF file");
  std::unique_ptr<LlamaModel> model(new LlamaModel(std::move(file)));
  TF_ASSIGN_OR_RETURN(model->config_, LlamaConfigFromGguf(*model->file_));
  TF_RETURN_IF_ERROR(model->Bind());
  return model;
}

absl::StatusOr<cpu::QuantMatrix> LlamaModel::Matrix(const std::string& name, int64_t rows,
                                                    int64_t cols) const {
  const GgufTensor* t = file_->FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_->path(), ": tensor ", name, " is missing"));
  }
  if (t->shape.size() != 2 || t->shape[0] != rows || t->shape[1] != cols) {
    std::string shape;
    for (int64_t d : t->shape) absl::StrAppend(&shape, shape.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(absl::StrCat(file_->path(), ": tensor ", name, " is [", shape,
                                                   "], expected [", rows, ", ", cols, "]"));
  }
  cpu::QuantMatrix m{t->type, rows, cols, t->bytes.data()};
  if (absl::Status s = cpu::CheckQuantMatrix(m); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_->path(), ": tensor ", name, ": ", s.message()));
  }
  return m;
}

absl::StatusOr<const float*> LlamaModel::Vector(const std::string& name, int64_t length,
                                                bool optional) const {
  const GgufTensor* t = file_->FindTensor(name);
  if (t == nullptr) {
    if (optional) return nullptr;
    return absl::InvalidArgumentError(
        absl::StrCat(file_->path(), ": tensor ", name, " is missing"));
  }
  if (t->type != GgmlType::kF32 || t->element_count() != length) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_->path(), ": tensor ", name, " must be F32 with ", length, " values"));
  }
  // The reader checked the offset against the file's alignment (at least 4 in practice); a
  // misaligned float vector would still be read correctly on x86, but refuse it to be safe.
  if (reinterpret_cast<uintptr_t>(t->bytes.data()) % alignof(float) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_->path(), ": tensor ", name, " is not aligned for floats"));
  }
  return reinterpret_cast<const float*>(t->bytes.data());
}

absl::Status LlamaModel::Bind() {
  const LlamaConfig& c = config_;
  const GgufTensor* embd = file_->FindTensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2 || embd->shape[1] != c.hidden) {
    return absl::InvalidArgumentError(absl::StrCat(
        file_->path(), ": tensor token_embd.weight must exist as [vocab, ", c.hidden, "]"));
  }
  config_.vocab_size = embd->shape[0];
  TF_ASSIGN_OR_RETURN(embeddings_, Matrix("token_embd.weight", c.vocab_size, c.hidden));
  if (file_->FindTensor("output.weight") != nullptr) {
    TF_ASSIGN_OR_RETURN(output_, Matrix("output.weight", c.vocab_size, c.hidden));
  } else {
    output_ = embeddings_;
  }
  TF_ASSIGN_OR_RETURN(output_norm_, Vector("output_norm.weight", c.hidden, false));
  if (const GgufTensor* freqs = file_->FindTensor("rope_freqs.weight"); freqs != nullptr) {
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
  for (const GgufTensor& t : file_->tensors()) parameter_count_ += t.element_count();
  return absl::OkStatus();
}

int64_t LlamaModel::weight_bytes() const {
  int64_t bytes = 0;
  for (const GgufTensor& t : file_->tensors()) bytes += static_cast<int64_t>(t.bytes.size());
  return bytes;
}

KvCache LlamaModel::NewCache(int64_t max_positions) const {
  const int64_t limit =
      max_positions > 0 ? std::min(max_positions, config_.context_length) : config_.context_length;
  return KvCache(config_.layers, config_.kv_heads * config_.head_dim, limit);
}

namespace {

void AddBias(float* x, const float* bias, int64_t rows, int64_t n, int64_t stride) {
  if (bias == nullptr) return;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) x[r * stride + i] += bias[i];
  }
}

}  // namespace

absl::Status LlamaModel::Forward(std::span<const int32_t> tokens, KvCache* cache, bool all_logits,
                                 std::vector<float>* logits) const {
  const LlamaConfig& c = config_;
  const int64_t rows = static_cast<int64_t>(tokens.size());
  if (rows == 0) return absl::InvalidArgumentError("Forward: no tokens");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", tokens[i], " at index ", i, " is outside the vocabulary of ", c.vocab_size));
    }
  }
  if (cache->row_width() != c.kv_heads * c.head_dim || cache->element() != KvElement::kF16) {
    return absl::InvalidArgumentError("Forward: the KV cache belongs to another model");
  }
  TF_RETURN_IF_ERROR(cache->Reserve(rows));

  const int64_t h = c.hidden, kv_width = c.kv_heads * c.head_dim, ffn = c.intermediate;
  const int64_t first = cache->length();
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) positions[r] = static_cast<int32_t>(first + r);

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

  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int64_t li = 0; li < c.layers; ++li) {
    const Layer& l = layers_[static_cast<size_t>(li)];
    cpu::RmsNorm(x.data(), l.attention_norm, c.rms_epsilon, rows, h, normed.data());
    // q, k and v read the same input: quantize it once when they share a format.
    TF_RETURN_IF_ERROR(
        cpu::QuantizeActivations(normed.data(), rows, h, h, l.q.activation_format(), &quantized));
    TF_RETURN_IF_ERROR(cpu::QuantMatmul(l.q, quantized, rows, q.data(), h));
    for (const auto& [w, out] : {std::pair{&l.k, &k}, std::pair{&l.v, &v}}) {
      if (w->activation_format() == l.q.activation_format()) {
        TF_RETURN_IF_ERROR(cpu::QuantMatmul(*w, quantized, rows, out->data(), kv_width));
      } else {
        TF_RETURN_IF_ERROR(
            cpu::QuantLinear(normed.data(), rows, h, *w, out->data(), kv_width, &quantized_ffn));
      }
    }
    AddBias(q.data(), l.q_bias, rows, h, h);
    AddBias(k.data(), l.k_bias, rows, kv_width, kv_width);
    AddBias(v.data(), l.v_bias, rows, kv_width, kv_width);
    cpu::Rope(q.data(), rows, h, c.heads, c.head_dim, positions.data(), c.rope);
    cpu::Rope(k.data(), rows, kv_width, c.kv_heads, c.head_dim, positions.data(), c.rope);
    cpu::FloatsToHalves(k.data(), rows * kv_width, cache->keys(li) + first * kv_width);
    cpu::FloatsToHalves(v.data(), rows * kv_width, cache->values(li) + first * kv_width);
    cpu::CausalAttentionF16Cache(q.data(), h, rows, first, cache->keys(li), cache->values(li),
                                 c.heads, c.kv_heads, c.head_dim, scale, attention.data(), h);
    TF_RETURN_IF_ERROR(
        cpu::QuantLinear(attention.data(), rows, h, l.o, projected.data(), h, &quantized));
    cpu::AddTo(x.data(), projected.data(), rows * h);

    cpu::RmsNorm(x.data(), l.ffn_norm, c.rms_epsilon, rows, h, normed.data());
    TF_RETURN_IF_ERROR(cpu::QuantizeActivations(normed.data(), rows, h, h,
                                                l.gate.activation_format(), &quantized));
    TF_RETURN_IF_ERROR(cpu::QuantMatmul(l.gate, quantized, rows, gate.data(), ffn));
    if (l.up.activation_format() == l.gate.activation_format()) {
      TF_RETURN_IF_ERROR(cpu::QuantMatmul(l.up, quantized, rows, up.data(), ffn));
    } else {
      TF_RETURN_IF_ERROR(
          cpu::QuantLinear(normed.data(), rows, h, l.up, up.data(), ffn, &quantized_ffn));
    }
    cpu::SwiGlu(gate.data(), up.data(), rows * ffn);
    TF_RETURN_IF_ERROR(
        cpu::QuantLinear(gate.data(), rows, ffn, l.down, projected.data(), h, &quantized_ffn));
    cpu::AddTo(x.data(), projected.data(), rows * h);
  }

  // Only the rows whose logits are wanted go through the final norm and the output head.
  const int64_t out_rows = all_logits ? rows : 1;
  const float* last = x.data() + (rows - out_rows) * h;
  cpu::RmsNorm(last, output_norm_, c.rms_epsilon, out_rows, h, normed.data());
  logits->resize(static_cast<size_t>(out_rows * c.vocab_size));
  TF_RETURN_IF_ERROR(cpu::QuantLinear(normed.data(), out_rows, h, output_, logits->data(),
                                      c.vocab_size, &quantized));
  cache->Advance(rows);
  return absl::OkStatus();
}

}  // namespace trustformers::models
