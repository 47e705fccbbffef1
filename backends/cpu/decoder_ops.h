// The CPU operations of decoder-only transformers (Llama family) on raw float rows: RMS norm,
// rotary position embeddings, causal attention over a half-precision KV cache, and SwiGLU.
// Keys and values are cached as f16 (half the memory of f32, as llama.cpp's default cache).
// RMS norm, RoPE, attention over f16 rows and SwiGLU round exactly as llama.cpp's CPU backend
// does (docs/architecture.md, "llama.cpp's numerics"); the f32-cache attention of Hugging Face
// checkpoints sums in double instead.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace trustformers::backends::cpu {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for `rows` rows of n (x may equal out).
void RmsNorm(const float* x, const float* weight, float epsilon, int64_t rows, int64_t n,
             float* out);

// How RoPE pairs the dimensions of a head: adjacent pairs (2i, 2i+1), ggml's "normal" mode that
// Llama GGUFs are converted for, or halves (i, i + d/2), GPT-NeoX style (Qwen2, Hugging Face
// Llama checkpoints).
enum class RopeStyle { kInterleaved, kHalves };

struct RopeParams {
  int64_t rotary_dims = 0;  // leading dimensions of each head that rotate (<= head_dim)
  float freq_base = 10000.0f;
  // Positions are multiplied by this (linear scaling: 1 / factor).
  float freq_scale = 1.0f;
  RopeStyle style = RopeStyle::kInterleaved;
  // Optional per-pair divisors of the frequencies (Llama 3's rope_freqs), rotary_dims / 2 long.
  std::span<const float> freq_factors;
};

// The cos and sin of every pair's angle at each of `rows` positions (rows * rotary_dims floats):
// computed once per pass and shared by every layer's queries and keys.
std::vector<float> RopeAngles(const int32_t* positions, int64_t rows, const RopeParams& params);

// Rotates `heads` heads of head_dim floats in each of `rows` rows (rows `stride` floats apart)
// by row r's angles (RopeAngles).
void Rope(float* x, int64_t rows, int64_t stride, int64_t heads, int64_t head_dim,
          const float* angles, const RopeParams& params);

// One sequence's share of a batched causal attention: `rows` new queries at positions
// first_position .. first_position+rows-1, q [rows, heads * head_dim] (rows q_stride floats apart),
// over the rows of positions 0 .. first_position+rows-1 (the new rows' keys and values already
// written): key_rows[p] and value_rows[p] point at position p's row of kv_heads * head_dim values,
// wherever it lives (a contiguous cache or blocks of a paged pool). Query head h reads kv head
// h / (heads / kv_heads). Writes out [rows, heads * head_dim] (rows out_stride apart).
template <class T>
struct AttentionSequence {
  const float* q = nullptr;
  int64_t q_stride = 0;
  int64_t rows = 0;
  int64_t first_position = 0;
  const T* const* key_rows = nullptr;
  const T* const* value_rows = nullptr;
  float* out = nullptr;
  int64_t out_stride = 0;
  // Rows at positions before this sum in llama.cpp's prompt order, the others in its one-token
  // order (AttentionOrder in decoder_kernels.h; f16 rows only).
  int64_t prompt_order_until = 0;
};

// Every sequence of a batch in one parallel loop; each (sequence, row, head) is computed exactly
// as it would be alone. f16 rows (quantized GGUF models, as llama.cpp keeps them).
void CausalAttentionF16(std::span<const AttentionSequence<uint16_t>> sequences, int64_t heads,
                        int64_t kv_heads, int64_t head_dim, float scale);

// The same over f32 rows (Hugging Face float checkpoints), accumulated in double.
void CausalAttentionF32(std::span<const AttentionSequence<float>> sequences, int64_t heads,
                        int64_t kv_heads, int64_t head_dim, float scale);

// Converts rows of floats into f16 (round to nearest even), e.g. new keys into the cache.
void FloatsToHalves(const float* x, int64_t n, uint16_t* out);

// Tests: force the scalar kernels (true) or go back to the best available (false).
void UseReferenceDecoderKernels(bool reference);

// x[i] += y[i] (the residual connections).
void AddTo(float* x, const float* y, int64_t n);

// gate[i] = silu(gate[i]) * up[i].
void SwiGlu(float* gate, const float* up, int64_t n);

// GPT-2's GELU, the tanh approximation ("gelu_new", "gelu_pytorch_tanh"), in place.
void GeluTanh(float* x, int64_t n);

}  // namespace trustformers::backends::cpu
