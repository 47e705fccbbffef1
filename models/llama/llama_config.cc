#include "models/llama/llama_config.h"

#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"

namespace trustformers::models {
namespace {

// An optional key: `fallback` when absent, an error when present with the wrong type.
template <typename T, typename Getter>
absl::StatusOr<T> Optional(const GgufFile& file, const std::string& key, T fallback, Getter get) {
  if (file.FindValue(key) == nullptr) return fallback;
  return get(key);
}

absl::Status Positive(const std::string& key, int64_t value, int64_t limit) {
  if (value <= 0 || value > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF key ", key, " = ", value, " is outside 1..", limit));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LlamaConfig> LlamaConfigFromGguf(const GgufFile& file) {
  LlamaConfig c;
  TF_ASSIGN_OR_RETURN(c.architecture, file.architecture());
  if (c.architecture != "llama" && c.architecture != "mistral" && c.architecture != "qwen2") {
    return absl::InvalidArgumentError(absl::StrCat("GGUF architecture '", c.architecture, "' in '",
                                                   file.path(),
                                                   "' is not supported (llama, mistral and qwen2 "
                                                   "are)"));
  }
  const std::string p = c.architecture + ".";
  auto u32 = [&](const std::string& key) { return file.GetU32(key); };
  auto f32 = [&](const std::string& key) { return file.GetF32(key); };
  TF_ASSIGN_OR_RETURN(uint32_t layers, file.GetU32(p + "block_count"));
  TF_ASSIGN_OR_RETURN(uint32_t hidden, file.GetU32(p + "embedding_length"));
  TF_ASSIGN_OR_RETURN(uint32_t intermediate, file.GetU32(p + "feed_forward_length"));
  TF_ASSIGN_OR_RETURN(uint32_t heads, file.GetU32(p + "attention.head_count"));
  TF_ASSIGN_OR_RETURN(uint32_t kv_heads,
                      Optional<uint32_t>(file, p + "attention.head_count_kv", heads, u32));
  TF_ASSIGN_OR_RETURN(uint32_t context, file.GetU32(p + "context_length"));
  TF_ASSIGN_OR_RETURN(c.rms_epsilon, file.GetF32(p + "attention.layer_norm_rms_epsilon"));
  c.layers = layers;
  c.hidden = hidden;
  c.intermediate = intermediate;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.context_length = context;
  TF_RETURN_IF_ERROR(Positive(p + "block_count", c.layers, kMaxGgufBlockCount));
  TF_RETURN_IF_ERROR(Positive(p + "embedding_length", c.hidden, 1 << 16));
  TF_RETURN_IF_ERROR(Positive(p + "feed_forward_length", c.intermediate, 1 << 18));
  TF_RETURN_IF_ERROR(Positive(p + "attention.head_count", c.heads, 1024));
  TF_RETURN_IF_ERROR(Positive(p + "attention.head_count_kv", c.kv_heads, c.heads));
  TF_RETURN_IF_ERROR(Positive(p + "context_length", c.context_length, 1 << 24));
  if (c.hidden % c.heads != 0 || c.heads % c.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF ", p, "attention: ", c.heads, " heads must divide the hidden size ",
                     c.hidden, " and be a multiple of the ", c.kv_heads, " key/value heads"));
  }
  c.head_dim = c.hidden / c.heads;
  if (!(c.rms_epsilon > 0 && c.rms_epsilon < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF key ", p, "attention.layer_norm_rms_epsilon = ", c.rms_epsilon,
                     " is outside (0, 1)"));
  }

  TF_ASSIGN_OR_RETURN(uint32_t rotary, Optional<uint32_t>(file, p + "rope.dimension_count",
                                                          static_cast<uint32_t>(c.head_dim), u32));
  if (rotary == 0 || rotary > c.head_dim || rotary % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF key ", p,
                                                   "rope.dimension_count = ", rotary,
                                                   " must be even and at most the head "
                                                   "size ",
                                                   c.head_dim));
  }
  c.rope.rotary_dims = rotary;
  TF_ASSIGN_OR_RETURN(c.rope.freq_base, Optional<float>(file, p + "rope.freq_base", 10000.0f, f32));
  if (!(c.rope.freq_base > 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF key ", p, "rope.freq_base = ", c.rope.freq_base, " must be above 1"));
  }
  // Llama GGUFs store q/k permuted for adjacent-pair rotation; Qwen2 keeps Hugging Face's halves.
  c.rope.style = c.architecture == "qwen2" ? backends::cpu::RopeStyle::kHalves
                                           : backends::cpu::RopeStyle::kInterleaved;
  std::string scaling = "none";
  if (file.FindValue(p + "rope.scaling.type") != nullptr) {
    TF_ASSIGN_OR_RETURN(scaling, file.GetString(p + "rope.scaling.type"));
  }
  if (scaling == "linear") {
    TF_ASSIGN_OR_RETURN(float factor, file.GetF32(p + "rope.scaling.factor"));
    if (!(factor >= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF key ", p, "rope.scaling.factor = ", factor, " must be at least 1"));
    }
    c.rope.freq_scale = 1.0f / factor;
  } else if (scaling != "none") {
    return absl::UnimplementedError(
        absl::StrCat("GGUF ", p, "rope.scaling.type \"", scaling,
                     "\" is not supported (none, linear, and Llama 3's rope_freqs are)"));
  }
  return c;
}

}  // namespace trustformers::models
