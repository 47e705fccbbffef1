// AVX2 + FMA + F16C quantized dot products. This file alone is compiled with those flags;
// quant_matmul.cc calls it only after checking the CPU. Each kernel unpacks a weight block once
// and multiplies it with up to kQuantTileRows activation rows: maddubs (u8 x s8 pairs to s16),
// madd (to s32), one float conversion and one FMA per block and row. quant_kernels_vnni.cc
// compiles this file again with TF_QUANT_VNNI for CPUs with AVX-512 VNNI, where one vpdpbusd
// does maddubs + madd (the same integers, so the same results).
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "backends/cpu/quant/quant_kernels.h"

// The VNNI instructions are enabled for this file's own functions only, after the headers: an
// inline function from a header compiled here with AVX-512 could otherwise be the copy the
// linker keeps for the whole program, and fault on the many AVX2 CPUs without AVX-512.
#if defined(TF_QUANT_VNNI)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512vl,avx512vnni")
#endif
#endif

namespace trustformers::backends::cpu {
namespace {

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float Half(const uint8_t* bytes) {
  uint16_t bits;
  std::memcpy(&bits, bytes, sizeof(bits));
  return _cvtsh_ss(bits);
}

float Float(const uint8_t* bytes) {
  float value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

__m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 bytes of nibbles to 32 bytes 0..15: low nibbles first (weights 0..15), then high ones.
// The 16 bytes go to both halves in one load; the high half shifts right by 4 (per 32-bit lane,
// the mask then drops what crossed between bytes).
__m256i UnpackNibbles(const uint8_t* qs) {
  const __m256i both =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  const __m256i shifted = _mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
  return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
}

// Sum of u8 x s8 products in 8 lanes of s32, as floats.
__m256 DotU8S8(__m256i u, __m256i s) {
#if defined(TF_QUANT_VNNI)
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s));
#else
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

// Signed x signed: maddubs wants its first operand unsigned, so move w's sign onto a.
__m256 DotS8S8(__m256i w, __m256i a) {
  return DotU8S8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

template <int M>
void DotQ4_0(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
             int64_t out_stride) {
  constexpr int64_t kW = sizeof(BlockQ4_0), kA = sizeof(ActBlockQ8_0);
  __m256 acc[M];
  for (int i = 0; i < M; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK; ++b) {
    const uint8_t* wb = w + b * kW;
    const float dw = Half(wb);
    const __m256i q = _mm256_sub_epi8(UnpackNibbles(wb + 2), _mm256_set1_epi8(8));
    for (int i = 0; i < M; ++i) {
      const uint8_t* ab = a + i * a_stride + b * kA;
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(dw * Float(ab)), DotS8S8(q, Load256(ab + 4)), acc[i]);
    }
  }
  for (int i = 0; i < M; ++i) out[i * out_stride] = HorizontalSum(acc[i]);
}

template <int M>
void DotQ4_1(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
             int64_t out_stride) {
  constexpr int64_t kW = sizeof(BlockQ4_1), kA = sizeof(ActBlockQ8_1);
  __m256 acc[M];
  // Lane 1 sums m_w * s_a with a fused multiply-add per block, as ggml's kernel is compiled;
  // lane 0 of [d_w, m_w] times [d_a, s_a] is the block's scale.
  __m128 offsets[M];
  for (int i = 0; i < M; ++i) {
    acc[i] = _mm256_setzero_ps();
    offsets[i] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < k / kQK; ++b) {
    const uint8_t* wb = w + b * kW;
    int32_t scales;
    std::memcpy(&scales, wb, sizeof(scales));
    const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(scales));
    const __m256i q = UnpackNibbles(wb + 4);
    for (int i = 0; i < M; ++i) {
      const uint8_t* ab = a + i * a_stride + b * kA;
      const __m128 ds = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(ab)));
      const __m128 products = _mm_mul_ps(dm, ds);
      acc[i] =
          _mm256_fmadd_ps(_mm256_broadcastss_ps(products), DotU8S8(q, Load256(ab + 8)), acc[i]);
      offsets[i] = _mm_fmadd_ps(dm, ds, offsets[i]);
    }
  }
  for (int i = 0; i < M; ++i) {
    out[i * out_stride] =
        HorizontalSum(acc[i]) + _mm_cvtss_f32(_mm_shuffle_ps(offsets[i], offsets[i], 1));
  }
}

template <int M>
void DotQ8_0(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
             int64_t out_stride) {
  constexpr int64_t kW = sizeof(BlockQ8_0), kA = sizeof(ActBlockQ8_0);
  __m256 acc[M];
  for (int i = 0; i < M; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK; ++b) {
    const uint8_t* wb = w + b * kW;
    const float dw = Half(wb);
    const __m256i q = Load256(wb + 2);
    const __m256i abs_q = _mm256_sign_epi8(q, q);
    for (int i = 0; i < M; ++i) {
      const uint8_t* ab = a + i * a_stride + b * kA;
      const __m256i signed_a = _mm256_sign_epi8(Load256(ab + 4), q);
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(dw * Float(ab)), DotU8S8(abs_q, signed_a), acc[i]);
    }
  }
  for (int i = 0; i < M; ++i) out[i * out_stride] = HorizontalSum(acc[i]);
}

// The K-quants against Q8_K activations, one super-block of 256 weights per step. Each
// sub-block's integer dot is weighted by its 6-bit (Q4_K/Q5_K) or 8-bit (Q6_K) scale in integer
// arithmetic (madd with the scale), and the mins (Q4_K/Q5_K) or Q6_K's -32 offset are applied
// through the activation block's sums of 16, per super-block in scalar code.
template <int M, bool kFifthBit>
void DotQ45_K(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
              int64_t out_stride) {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  constexpr int64_t kW = sizeof(Block), kA = sizeof(ActBlockQ8_K);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc[M];
  float mins_total[M];
  for (int i = 0; i < M; ++i) {
    acc[i] = _mm256_setzero_ps();
    mins_total[i] = 0;
  }
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    Block block;
    std::memcpy(&block, w + b * kW, sizeof(block));
    int scales[8], mins[8];
    for (int j = 0; j < 8; ++j) {
      const ScaleMin sm = UnpackScaleMin(block.scales, j);
      scales[j] = sm.scale;
      mins[j] = sm.min;
    }
    const float d = _cvtsh_ss(block.d), dmin = _cvtsh_ss(block.dmin);
    __m256i q[8];  // the 8 sub-blocks' values, 0..15 (Q4_K) or 0..31 (Q5_K)
    for (int c = 0; c < 4; ++c) {
      const __m256i packed = Load256(block.qs + 32 * c);
      q[2 * c] = _mm256_and_si256(packed, low_nibbles);
      q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
    }
    if constexpr (kFifthBit) {
      const __m256i high = Load256(block.qh);
      for (int j = 0; j < 8; ++j) {
        const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(high, j), one);
        q[j] = _mm256_or_si256(q[j], _mm256_slli_epi16(bit, 4));
      }
    }
    for (int i = 0; i < M; ++i) {
      const uint8_t* ab = a + i * a_stride + b * kA;
      float ad;
      std::memcpy(&ad, ab, sizeof(ad));
      int16_t bsums[16];
      std::memcpy(bsums, ab + 260, sizeof(bsums));
      __m256i sum = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i pairs = _mm256_maddubs_epi16(q[j], Load256(ab + 4 + 32 * j));
        sum = _mm256_add_epi32(
            sum, _mm256_madd_epi16(pairs, _mm256_set1_epi16(static_cast<int16_t>(scales[j]))));
      }
      int min_sum = 0;
      for (int j = 0; j < 8; ++j) min_sum += mins[j] * (bsums[2 * j] + bsums[2 * j + 1]);
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d * ad), _mm256_cvtepi32_ps(sum), acc[i]);
      mins_total[i] += dmin * ad * static_cast<float>(min_sum);
    }
  }
  for (int i = 0; i < M; ++i) out[i * out_stride] = HorizontalSum(acc[i]) - mins_total[i];
}

template <int M>
void DotQ4_K(const uint8_t* w, const uint8_t* a, int64_t s, int64_t k, float* o, int64_t os) {
  DotQ45_K<M, false>(w, a, s, k, o, os);
}
template <int M>
void DotQ5_K(const uint8_t* w, const uint8_t* a, int64_t s, int64_t k, float* o, int64_t os) {
  DotQ45_K<M, true>(w, a, s, k, o, os);
}

template <int M>
void DotQ6_K(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
             int64_t out_stride) {
  constexpr int64_t kW = sizeof(BlockQ6_K), kA = sizeof(ActBlockQ8_K);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  __m256 acc[M];
  for (int i = 0; i < M; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    BlockQ6_K block;
    std::memcpy(&block, w + b * kW, sizeof(block));
    const float d = _cvtsh_ss(block.d);
    // Weights 32c .. 32c+31 as unsigned 6-bit values (the -32 comes back through the sums).
    __m256i q[8];
    __m256i scale_pairs[8];  // sub-block scales 2c (low 16 bytes) and 2c+1 (high 16)
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = Load256(block.ql + 64 * half);
      const __m256i ql1 = Load256(block.ql + 64 * half + 32);
      const __m256i qh = Load256(block.qh + 32 * half);
      const __m256i lows[4] = {_mm256_and_si256(ql0, low_nibbles),
                               _mm256_and_si256(ql1, low_nibbles),
                               _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_nibbles),
                               _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_nibbles)};
      for (int part = 0; part < 4; ++part) {
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * part), two_bits);
        const int c = 4 * half + part;
        q[c] = _mm256_or_si256(lows[part], _mm256_slli_epi16(high, 4));
        scale_pairs[c] = _mm256_set_m128i(_mm_set1_epi16(block.scales[2 * c + 1]),
                                          _mm_set1_epi16(block.scales[2 * c]));
      }
    }
    for (int i = 0; i < M; ++i) {
      const uint8_t* ab = a + i * a_stride + b * kA;
      float ad;
      std::memcpy(&ad, ab, sizeof(ad));
      int16_t bsums[16];
      std::memcpy(bsums, ab + 260, sizeof(bsums));
      __m256i sum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i pairs = _mm256_maddubs_epi16(q[c], Load256(ab + 4 + 32 * c));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, scale_pairs[c]));
      }
      // The values were taken unsigned: subtract 32 * scale * sum(a) per sub-block.
      int offset = 0;
      for (int s = 0; s < 16; ++s) offset += block.scales[s] * bsums[s];
      sum = _mm256_sub_epi32(sum, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d * ad), _mm256_cvtepi32_ps(sum), acc[i]);
    }
  }
  for (int i = 0; i < M; ++i) out[i * out_stride] = HorizontalSum(acc[i]);
}

__m256 LoadF32(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
__m256 LoadF16(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__m256 LoadBF16(const uint8_t* p) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}
float OneF32(const uint8_t* p) { return Float(p); }
float OneF16(const uint8_t* p) { return Half(p); }
float OneBF16(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof(bits));
  const uint32_t wide = uint32_t{bits} << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

// Float weights (kBytes each) against float activations, 8 at a time.
template <int M, int kBytes, __m256 (*Load8)(const uint8_t*), float (*Load1)(const uint8_t*)>
void DotFloat(const uint8_t* w, const uint8_t* a, int64_t a_stride, int64_t k, float* out,
              int64_t out_stride) {
  __m256 acc[M];
  for (int i = 0; i < M; ++i) acc[i] = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 wv = Load8(w + j * kBytes);
    for (int i = 0; i < M; ++i) {
      acc[i] = _mm256_fmadd_ps(wv, LoadF32(a + i * a_stride + 4 * j), acc[i]);
    }
  }
  for (int i = 0; i < M; ++i) {
    float sum = HorizontalSum(acc[i]);
    for (int64_t t = j; t < k; ++t) sum += Load1(w + t * kBytes) * Float(a + i * a_stride + 4 * t);
    out[i * out_stride] = sum;
  }
}

template <int M>
void DotF32(const uint8_t* w, const uint8_t* a, int64_t s, int64_t k, float* o, int64_t os) {
  DotFloat<M, 4, LoadF32, OneF32>(w, a, s, k, o, os);
}
template <int M>
void DotF16(const uint8_t* w, const uint8_t* a, int64_t s, int64_t k, float* o, int64_t os) {
  DotFloat<M, 2, LoadF16, OneF16>(w, a, s, k, o, os);
}
template <int M>
void DotBF16(const uint8_t* w, const uint8_t* a, int64_t s, int64_t k, float* o, int64_t os) {
  DotFloat<M, 2, LoadBF16, OneBF16>(w, a, s, k, o, os);
}

using FixedDot = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, float*, int64_t);

// The tile height chooses the unrolled instance.
template <FixedDot K1, FixedDot K2, FixedDot K3, FixedDot K4>
void Tile(const uint8_t* w, const uint8_t* a, int64_t a_stride, int m, int64_t k, float* out,
          int64_t out_stride) {
  switch (m) {
    case 1:
      return K1(w, a, a_stride, k, out, out_stride);
    case 2:
      return K2(w, a, a_stride, k, out, out_stride);
    case 3:
      return K3(w, a, a_stride, k, out, out_stride);
    default:
      return K4(w, a, a_stride, k, out, out_stride);
  }
}

#define TF_QUANT_TILE(kernel) Tile<kernel<1>, kernel<2>, kernel<3>, kernel<4>>

// The activation quantizers of quant_kernels_reference.cc, 8 lanes at a time with the same
// roundings: scale amax / 127 kept at f16, values times 127 / amax rounded to nearest even.
struct BlockQuantized {
  float d;  // f16-rounded scale
  float unrounded;
  int sum;  // of the 32 values
};

BlockQuantized QuantizeBlock(const float* x, int8_t* qs) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float max = _mm_cvtss_f32(m4);
  const float d = max / 127.0f;
  const __m256 id = _mm256_set1_ps(max != 0 ? 127.0f / max : 0.0f);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  const __m256i sum4 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(sum4), _mm256_extracti128_si256(sum4, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4E));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xB1));
  // int32 -> int16 -> int8 with saturation packs within 128-bit halves; the permute restores
  // the order.
  const __m256i packed =
      _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(
      reinterpret_cast<__m256i*>(qs),
      _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return {_cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)), d, _mm_cvtsi128_si32(sum)};
}

void QuantizeQ8_0(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; ++b) {
    ActBlockQ8_0 block;
    block.d = QuantizeBlock(x + b * kQK, block.qs).d;
    std::memcpy(out + b * static_cast<int64_t>(sizeof(block)), &block, sizeof(block));
  }
}

void QuantizeQ8_1(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; ++b) {
    ActBlockQ8_1 block;
    const BlockQuantized q = QuantizeBlock(x + b * kQK, block.qs);
    block.d = q.d;
    block.s =
        _cvtsh_ss(_cvtss_sh(q.unrounded * static_cast<float>(q.sum), _MM_FROUND_TO_NEAREST_INT));
    std::memcpy(out + b * static_cast<int64_t>(sizeof(block)), &block, sizeof(block));
  }
}

}  // namespace

#if defined(TF_QUANT_VNNI)
const QuantKernelTable* Avx512VnniQuantKernels() {
#else
const QuantKernelTable* Avx2QuantKernels() {
#endif
  static const QuantKernelTable table = [] {
    QuantKernelTable t = ReferenceQuantKernels();  // Q8_K quantization stays scalar
#if defined(TF_QUANT_VNNI)
    t.name = "avx2+vnni";
#else
    t.name = "avx2";
#endif
    t.quantize_q8_0 = QuantizeQ8_0;
    t.quantize_q8_1 = QuantizeQ8_1;
    t.dot_f32 = TF_QUANT_TILE(DotF32);
    t.dot_f16 = TF_QUANT_TILE(DotF16);
    t.dot_bf16 = TF_QUANT_TILE(DotBF16);
    t.dot_q4_0 = TF_QUANT_TILE(DotQ4_0);
    t.dot_q4_1 = TF_QUANT_TILE(DotQ4_1);
    t.dot_q8_0 = TF_QUANT_TILE(DotQ8_0);
    t.dot_q4_k = TF_QUANT_TILE(DotQ4_K);
    t.dot_q5_k = TF_QUANT_TILE(DotQ5_K);
    t.dot_q6_k = TF_QUANT_TILE(DotQ6_K);
    return t;
  }();
  return &table;
}

}  // namespace trustformers::backends::cpu

#if defined(TF_QUANT_VNNI)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
