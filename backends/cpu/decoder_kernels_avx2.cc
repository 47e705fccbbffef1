// AVX2 + FMA + F16C versions of decoder_ops.cc's inner loops; only this file is compiled with
// those flags.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "backends/cpu/decoder_kernels.h"

namespace trustformers::backends::cpu {
namespace {

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__m256 LoadHalves(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

void Attend(const float* q, const uint16_t* const* k_rows, const uint16_t* const* v_rows,
            int64_t offset, int64_t visible, int64_t head_dim, float scale, float* scores,
            float* out) {
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < visible; ++s) {
    const uint16_t* ks = k_rows[s] + offset;
    // Two accumulators halve the dependency chain of the FMAs.
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= head_dim; d += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), LoadHalves(ks + d), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), LoadHalves(ks + d + 8), a1);
    }
    if (d < head_dim) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), LoadHalves(ks + d), a0);
    scores[s] = HorizontalSum(_mm256_add_ps(a0, a1)) * scale;
    max_score = std::max(max_score, scores[s]);
  }
  double sum = 0;
  for (int64_t s = 0; s < visible; ++s) {
    scores[s] = std::exp(scores[s] - max_score);
    sum += scores[s];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t d = 0; d < head_dim; d += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t s = 0; s < visible; ++s) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[s]), LoadHalves(v_rows[s] + offset + d), acc);
    }
    _mm256_storeu_ps(out + d, _mm256_mul_ps(acc, _mm256_set1_ps(inverse)));
  }
}

}  // namespace

AttendFn Avx2Attend() { return Attend; }

}  // namespace trustformers::backends::cpu
