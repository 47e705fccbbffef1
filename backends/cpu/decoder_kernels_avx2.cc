// AVX2 + FMA + F16C versions of decoder_ops.cc's inner kernels; only this file is compiled with
// those flags. They keep the scalar oracles' order of operations exactly: 16 lanes of ggml's
// sums are two 8-float registers here (lanes 0-7 and 8-15).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "backends/cpu/decoder_kernels.h"
#include "backends/cpu/exp_polynomial.h"

namespace trustformers::backends::cpu {
namespace {

constexpr int64_t kLanes = 16;

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The lane tree of 16 lanes held as (lanes 0-7, lanes 8-15).
float LaneTree(__m256 low, __m256 high) { return HorizontalSum(_mm256_add_ps(low, high)); }

__m256 LoadHalves(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

__m256 RoundToHalves(__m256 x) {
  return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

// 2^n for whole n in [-126, 127], built in the exponent field.
__m256 PowerOfTwo(__m256 n) {
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
}

// exp_polynomial::Exp on 8 lanes. The scaling by 2^n is split in two so the first product stays
// normal and exact and only the second rounds, which gives ldexp's single rounding for tiny
// results too.
__m256 Exp(__m256 x) {
  namespace e = exp_polynomial;
  const __m256 shift = _mm256_set1_ps(e::kShift);
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(e::kLog2e), shift), shift);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(e::kLn2Low),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(e::kLn2High), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(e::kC5), b, _mm256_set1_ps(e::kC4)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(e::kC3), b, _mm256_set1_ps(e::kC2))),
      u, _mm256_fmadd_ps(_mm256_set1_ps(e::kC1), b, _mm256_set1_ps(1.0f)));
  const __m256 first =
      _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-125.0f)), _mm256_set1_ps(127.0f));
  const __m256 second = _mm256_sub_ps(n, first);
  const __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(j, PowerOfTwo(first)), PowerOfTwo(second));
  const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 out_of_range =
      _mm256_cmp_ps(magnitude, _mm256_set1_ps(e::kLargestScale), _CMP_GT_OQ);
  const __m256 limit = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ),
                                     _mm256_set1_ps(std::numeric_limits<float>::infinity()));
  return _mm256_blendv_ps(scaled, limit, out_of_range);
}

// A key row times the f16-rounded query, in decoder_ops.cc's KeyDot order.
float KeyDot(const float* q16, const uint16_t* k, int64_t n, AttentionOrder order) {
  if (n % kLanes != 0) order = AttentionOrder::kOneRow;
  if (order == AttentionOrder::kManyRows) {
    __m256 low = _mm256_setzero_ps(), high = _mm256_setzero_ps();
    for (int64_t d = 0; d < n; d += kLanes) {
      low = _mm256_fmadd_ps(LoadHalves(k + d), _mm256_loadu_ps(q16 + d), low);
      high = _mm256_fmadd_ps(LoadHalves(k + d + 8), _mm256_loadu_ps(q16 + d + 8), high);
    }
    return LaneTree(low, high);
  }
  __m256 acc[4][2] = {};
  const int64_t grouped = n - n % (4 * kLanes);
  for (int64_t d = 0; d < grouped; d += 4 * kLanes) {
    for (int g = 0; g < 4; ++g) {
      for (int half = 0; half < 2; ++half) {
        const int64_t i = d + g * kLanes + half * 8;
        acc[g][half] = _mm256_fmadd_ps(LoadHalves(k + i), _mm256_loadu_ps(q16 + i), acc[g][half]);
      }
    }
  }
  __m256 sum[2];
  for (int half = 0; half < 2; ++half) {
    sum[half] = _mm256_add_ps(_mm256_add_ps(acc[0][half], acc[2][half]),
                              _mm256_add_ps(acc[1][half], acc[3][half]));
  }
  double total = LaneTree(sum[0], sum[1]);
  for (int64_t d = grouped; d < n; ++d) {
    total += static_cast<double>(_cvtsh_ss(k[d]) * q16[d]);
  }
  return static_cast<float>(total);
}

// Scores of a 64-wide head in the one-token order with the query held in registers (the common
// decode case; the same operations as KeyDot).
void OneRowScores64(const float* q16, const uint16_t* const* k_rows, int64_t offset,
                    int64_t visible, float scale, float* scores) {
  __m256 q[8];
  for (int j = 0; j < 8; ++j) q[j] = _mm256_loadu_ps(q16 + 8 * j);
  for (int64_t s = 0; s < visible; ++s) {
    const uint16_t* k = k_rows[s] + offset;
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) {
      acc[j] = _mm256_fmadd_ps(LoadHalves(k + 8 * j), q[j], _mm256_setzero_ps());
    }
    // Group g holds values 16g .. 16g+15 (registers 2g, 2g+1); groups sum as (0 + 2) + (1 + 3).
    const __m256 low = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    const __m256 high = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    scores[s] = static_cast<float>(static_cast<double>(LaneTree(low, high))) * scale;
  }
}

// kBlocks * 8 outputs of probs times the value rows, in decoder_ops.cc's OrderedSum order: each
// lane (and group) accumulates its positions in turn. Each position's row is read once, by the
// one chain it belongs to; the chains' sums go to `lanes` (16 rows of lanes_stride floats).
template <int kBlocks>
void LaneSums(const uint16_t* const* v_rows, int64_t offset, const float* probs, int64_t visible,
              AttentionOrder order, float* lanes, int64_t lanes_stride) {
  const int64_t groups = order == AttentionOrder::kOneRow ? 4 : 1;
  const int64_t stride = groups * kLanes;  // positions between two terms of one chain
  for (int64_t l = 0; l < kLanes; ++l) {
    float* lane = lanes + l * lanes_stride;
    for (int64_t g = 0; g < groups; ++g) {
      // Groups 2 and 3 add nothing when the context does not reach them.
      if (g >= 2 && g * kLanes + l >= visible) continue;
      __m256 acc[kBlocks];
      for (int j = 0; j < kBlocks; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t s = g * kLanes + l; s < visible; s += stride) {
        const __m256 p = _mm256_set1_ps(probs[s]);
        const uint16_t* row = v_rows[s] + offset;
        for (int j = 0; j < kBlocks; ++j) {
          acc[j] = _mm256_fmadd_ps(LoadHalves(row + 8 * j), p, acc[j]);
        }
      }
      // Groups combine as (0 + 2) + (1 + 3): 0 and 1 are kept, 2 and 3 added to them.
      for (int j = 0; j < kBlocks; ++j) {
        float* slot = lane + (g % 2 == 0 ? 0 : kBlocks * 8) + 8 * j;
        _mm256_storeu_ps(slot, g < 2 ? acc[j] : _mm256_add_ps(_mm256_loadu_ps(slot), acc[j]));
      }
    }
    if (groups == 4) {
      for (int j = 0; j < kBlocks; ++j) {
        _mm256_storeu_ps(lane + 8 * j, _mm256_add_ps(_mm256_loadu_ps(lane + 8 * j),
                                                     _mm256_loadu_ps(lane + kBlocks * 8 + 8 * j)));
      }
    }
  }
}

// probs times the value rows for all head_dim outputs: lane sums of up to 64 outputs (8
// registers) at a time, then the lane tree.
void Values(const uint16_t* const* v_rows, int64_t offset, const float* probs, int64_t visible,
            int64_t head_dim, AttentionOrder order, float* lanes, float* out) {
  constexpr int64_t kLanesStride = 2 * 64;  // a chunk's groups 0 and 1
  for (int64_t d0 = 0; d0 < head_dim;) {
    const int64_t width = head_dim - d0 >= 64 ? 64 : 8;
    if (width == 64) {
      LaneSums<8>(v_rows, offset + d0, probs, visible, order, lanes, kLanesStride);
    } else {
      LaneSums<1>(v_rows, offset + d0, probs, visible, order, lanes, kLanesStride);
    }
    for (int64_t j = 0; j < width; j += 8) {
      __m256 tree[kLanes];
      for (int64_t l = 0; l < kLanes; ++l) tree[l] = _mm256_loadu_ps(lanes + l * kLanesStride + j);
      for (int64_t w = kLanes / 2; w >= 1; w /= 2) {
        for (int64_t l = 0; l < w; ++l) tree[l] = _mm256_add_ps(tree[l], tree[l + w]);
      }
      _mm256_storeu_ps(out + d0 + j, tree[0]);
    }
    d0 += width;
  }
}

void Attend(const float* q, const uint16_t* const* k_rows, const uint16_t* const* v_rows,
            int64_t offset, int64_t visible, int64_t head_dim, float scale, AttentionOrder order,
            float* scratch, float* out) {
  float* q16 = scratch;
  float* probs = scratch + head_dim;
  for (int64_t d = 0; d < head_dim; d += 8) {
    _mm256_storeu_ps(q16 + d, RoundToHalves(_mm256_loadu_ps(q + d)));
  }
  if (head_dim == 64 && order == AttentionOrder::kOneRow) {
    OneRowScores64(q16, k_rows, offset, visible, scale, probs);
  } else {
    for (int64_t s = 0; s < visible; ++s) {
      probs[s] = KeyDot(q16, k_rows[s] + offset, head_dim, order) * scale;
    }
  }
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < visible; ++s) max_score = std::max(max_score, probs[s]);
  // Padding past the last position gives exp(-inf) = 0, as ggml's masked positions do.
  const int64_t padded = (visible + kLanes - 1) / kLanes * kLanes;
  for (int64_t s = visible; s < padded; ++s) probs[s] = -std::numeric_limits<float>::infinity();
  const __m256 max = _mm256_set1_ps(max_score);
  double sum = 0;
  for (int64_t s = 0; s < padded; s += kLanes) {
    const __m256 low = Exp(_mm256_sub_ps(_mm256_loadu_ps(probs + s), max));
    const __m256 high = Exp(_mm256_sub_ps(_mm256_loadu_ps(probs + s + 8), max));
    _mm256_storeu_ps(probs + s, low);
    _mm256_storeu_ps(probs + s + 8, high);
    sum += LaneTree(low, high);
  }
  const __m256 inverse = _mm256_set1_ps(static_cast<float>(1.0 / sum));
  for (int64_t s = 0; s < padded; s += 8) {
    _mm256_storeu_ps(probs + s, RoundToHalves(_mm256_mul_ps(_mm256_loadu_ps(probs + s), inverse)));
  }
  Values(v_rows, offset, probs, visible, head_dim, order, probs + padded, out);
}

void SwiGlu(float* gate, const float* up, int64_t n) {
  const int64_t grouped = n - n % kLanes;
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t i = 0; i < grouped; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu = _mm256_div_ps(
        g, _mm256_add_ps(_mm256_set1_ps(1.0f), Exp(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (int64_t i = grouped; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// F16C's conversion rounds to nearest even like FloatToHalf; NaNs stay NaNs (payload bits may
// differ, which nothing reads).
void FloatsToHalves(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// Interleaved pairs four at a time: with x = [x0 x1 ...] and angles [c s ...], the outputs are
// x0 * [c s] -/+ x1 * [s c], the first product fused (fmaddsub), the second rounded.
void Rope(float* x, int64_t rows, int64_t stride, int64_t heads, int64_t head_dim,
          const float* angles, int64_t rotary_dims, bool interleaved) {
  const int64_t pairs = rotary_dims / 2;
#pragma omp parallel for schedule(static) if (rows * heads * pairs > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* cos_sin = angles + r * rotary_dims;
    for (int64_t h = 0; h < heads; ++h) {
      float* head = x + r * stride + h * head_dim;
      if (interleaved) {
        int64_t d = 0;
        for (; d + 8 <= rotary_dims; d += 8) {
          const __m256 v = _mm256_loadu_ps(head + d);
          const __m256 cs = _mm256_loadu_ps(cos_sin + d);
          const __m256 swapped = _mm256_permute_ps(cs, 0xB1);  // [s c ...]
          _mm256_storeu_ps(head + d,
                           _mm256_fmaddsub_ps(_mm256_moveldup_ps(v), cs,
                                              _mm256_mul_ps(_mm256_movehdup_ps(v), swapped)));
        }
        for (; d < rotary_dims; d += 2) {
          const float x0 = head[d], x1 = head[d + 1], c = cos_sin[d], s = cos_sin[d + 1];
          head[d] = std::fma(x0, c, -(x1 * s));
          head[d + 1] = std::fma(x0, s, x1 * c);
        }
      } else {
        for (int64_t i = 0; i < pairs; ++i) {
          const float x0 = head[i], x1 = head[i + pairs];
          const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
          head[i] = std::fma(x0, c, -(x1 * s));
          head[i + pairs] = std::fma(x0, s, x1 * c);
        }
      }
    }
  }
}

}  // namespace

RopeFn Avx2Rope() { return Rope; }
AttendFn Avx2Attend() { return Attend; }
SwiGluFn Avx2SwiGlu() { return SwiGlu; }
FloatsToHalvesFn Avx2FloatsToHalves() { return FloatsToHalves; }

}  // namespace trustformers::backends::cpu
