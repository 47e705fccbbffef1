// AVX2 + FMA + F16C quantized dot products. This file alone is compiled with those flags;
// quant_matmul.cc calls it only after checking the CPU. Each kernel unpacks a weight block once
// and multiplies it with up to kQuantTileRows activation rows: maddubs (u8 x s8 pairs to s16),
// madd (to s32), one float conversion and one FMA per block and row.
#include <immintrin.h>

#include <cstring>

#include "backends/cpu/quant/quant_kernels.h"

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
__m256i UnpackNibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), _mm_and_si128(raw, mask));
}

// Sum of u8 x s8 products in 8 lanes of s32, as floats.
__m256 DotU8S8(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
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
  // Lane 1 sums m_w * s_a; [d_w, m_w] times [d_a, s_a] gives both products in one multiply.
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
      offsets[i] = _mm_add_ps(offsets[i], products);
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

}  // namespace

const QuantKernelTable* Avx2QuantKernels() {
  // Activation quantization is a small share of the work (m * k against m * k * n); the K-quant
  // dot products use the scalar kernels until they get AVX2 ones.
  static const QuantKernelTable table = [] {
    QuantKernelTable t = ReferenceQuantKernels();
    t.name = "avx2";
    t.dot_f32 = TF_QUANT_TILE(DotF32);
    t.dot_f16 = TF_QUANT_TILE(DotF16);
    t.dot_bf16 = TF_QUANT_TILE(DotBF16);
    t.dot_q4_0 = TF_QUANT_TILE(DotQ4_0);
    t.dot_q4_1 = TF_QUANT_TILE(DotQ4_1);
    t.dot_q8_0 = TF_QUANT_TILE(DotQ8_0);
    return t;
  }();
  return &table;
}

}  // namespace trustformers::backends::cpu
