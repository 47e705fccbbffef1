// AVX2 + FMA kernels. This file alone is compiled with -mavx2 -mfma; ops.cc calls it only after
// checking the CPU supports both, so the binary still runs (on the reference kernels) elsewhere.
#include <immintrin.h>

#include <cmath>

#include "backends/cpu/kernels.h"

namespace trustformers::backends::cpu {
namespace {

inline float HorizontalSum(__m256 v) {
  const __m128 low = _mm256_castps256_ps128(v);
  const __m128 high = _mm256_extractf128_ps(v, 1);
  __m128 sum = _mm_add_ps(low, high);
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

inline float HorizontalMax(__m256 v) {
  const __m128 low = _mm256_castps256_ps128(v);
  const __m128 high = _mm256_extractf128_ps(v, 1);
  __m128 m = _mm_max_ps(low, high);
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// e^x to about 2 ulp over the float range: x = n ln2 + r with |r| <= ln2/2, a degree-6
// polynomial for e^r, and 2^n built in the exponent bits.
inline __m256 Exp(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.3981999507e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

// erf(x) with absolute error below 1.5e-7 (Abramowitz and Stegun 7.1.26).
inline __m256 Erf(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const __m256 t = _mm256_div_ps(
      _mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
  const __m256 y = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
  return _mm256_or_ps(y, sign);
}

void LayerNormAvx2(const float* x, const float* residual, const float* gamma, const float* beta,
                   float epsilon, int64_t rows, int64_t h, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * h;
    const float* rr = residual != nullptr ? residual + r * h : nullptr;
    float* o = out + r * h;
    __m256 sum = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= h; i += 8) {
      __m256 v = _mm256_loadu_ps(xr + i);
      if (rr != nullptr) v = _mm256_add_ps(v, _mm256_loadu_ps(rr + i));
      _mm256_storeu_ps(o + i, v);
      sum = _mm256_add_ps(sum, v);
    }
    float total = HorizontalSum(sum);
    for (; i < h; ++i) {
      o[i] = xr[i] + (rr != nullptr ? rr[i] : 0.0f);
      total += o[i];
    }
    const float mean = total / static_cast<float>(h);
    const __m256 mean8 = _mm256_set1_ps(mean);
    __m256 sq = _mm256_setzero_ps();
    for (i = 0; i + 8 <= h; i += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(o + i), mean8);
      sq = _mm256_fmadd_ps(d, d, sq);
    }
    float var = HorizontalSum(sq);
    for (; i < h; ++i) var += (o[i] - mean) * (o[i] - mean);
    var /= static_cast<float>(h);
    const float inv = 1.0f / std::sqrt(var + epsilon);
    const __m256 inv8 = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= h; i += 8) {
      const __m256 n = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(o + i), mean8), inv8);
      _mm256_storeu_ps(o + i,
                       _mm256_fmadd_ps(n, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
    }
    for (; i < h; ++i) o[i] = (o[i] - mean) * inv * gamma[i] + beta[i];
  }
}

void GeluAvx2(float* x, int64_t n) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 inv_sqrt2 = _mm256_set1_ps(0.70710678118654752f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 cdf = _mm256_fmadd_ps(half, Erf(_mm256_mul_ps(v, inv_sqrt2)), half);
    _mm256_storeu_ps(x + i, _mm256_mul_ps(v, cdf));
  }
  for (; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void GeluBackwardAvx2(const float* dy, const float* x, float* dx, int64_t n) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 inv_sqrt2 = _mm256_set1_ps(0.70710678118654752f);
  const __m256 inv_sqrt_2pi = _mm256_set1_ps(0.39894228040143268f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 cdf = _mm256_fmadd_ps(half, Erf(_mm256_mul_ps(v, inv_sqrt2)), half);
    const __m256 pdf =
        _mm256_mul_ps(inv_sqrt_2pi, Exp(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(v, v))));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_fmadd_ps(v, pdf, cdf)));
  }
  for (; i < n; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + std::erf(v * 0.70710678118654752f));
    const float pdf = std::exp(-0.5f * v * v) * 0.39894228040143268f;
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

void SoftmaxRowAvx2(float* row, int64_t n) {
  __m256 max8 = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(row + i));
  float max = HorizontalMax(max8);
  for (; i < n; ++i) max = std::fmax(max, row[i]);
  const __m256 m = _mm256_set1_ps(max);
  __m256 sum8 = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(row + i), m));
    _mm256_storeu_ps(row + i, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = HorizontalSum(sum8);
  for (; i < n; ++i) {
    row[i] = std::exp(row[i] - max);
    sum += row[i];
  }
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
  for (; i < n; ++i) row[i] /= sum;
}

void SoftmaxRowsAvx2(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) SoftmaxRowAvx2(x + r * n, n);
}

inline float Dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AttentionHeadAvx2(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                       int64_t head_dim, float scale, float* out, int64_t out_stride,
                       float* scores) {
  for (int64_t i = 0; i < len; ++i) {
    const float* qi = q + i * stride;
    for (int64_t j = 0; j < len; ++j) scores[j] = Dot(qi, k + j * stride, head_dim) * scale;
    SoftmaxRowAvx2(scores, len);
    float* o = out + i * out_stride;
    int64_t d = 0;
    // Output columns in register-sized blocks, accumulated over every key position.
    for (; d + 16 <= head_dim; d += 16) {
      __m256 a0 = _mm256_setzero_ps();
      __m256 a1 = _mm256_setzero_ps();
      for (int64_t j = 0; j < len; ++j) {
        const __m256 p = _mm256_set1_ps(scores[j]);
        const float* vj = v + j * stride + d;
        a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj), a0);
        a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8), a1);
      }
      _mm256_storeu_ps(o + d, a0);
      _mm256_storeu_ps(o + d + 8, a1);
    }
    for (; d + 8 <= head_dim; d += 8) {
      __m256 a0 = _mm256_setzero_ps();
      for (int64_t j = 0; j < len; ++j) {
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[j]), _mm256_loadu_ps(v + j * stride + d), a0);
      }
      _mm256_storeu_ps(o + d, a0);
    }
    for (; d < head_dim; ++d) {
      float acc = 0;
      for (int64_t j = 0; j < len; ++j) acc += scores[j] * v[j * stride + d];
      o[d] = acc;
    }
  }
}

void L2NormalizeRowsAvx2(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    const float norm = std::fmax(std::sqrt(Dot(row, row, n)), 1e-12f);
    const __m256 inv = _mm256_set1_ps(1.0f / norm);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
    for (; i < n; ++i) row[i] /= norm;
  }
}

// Two rows of w against four rows of x per step: eight accumulators, six loads per eight FMAs.
// The loop over x sits inside the loop over w, so each weight row streams from memory once while
// the few rows of x stay in L1.
void LinearFewRowsAvx2(const float* x, int64_t m, int64_t k, const float* w, const float* bias,
                       int64_t n, int64_t n_begin, int64_t n_end, float* y) {
  const int64_t k8 = k / 8 * 8;
  auto finish = [&](__m256 acc, int64_t i, int64_t j) {
    float sum = HorizontalSum(acc);
    for (int64_t p = k8; p < k; ++p) sum += x[i * k + p] * w[j * k + p];
    y[i * n + j] = sum + (bias != nullptr ? bias[j] : 0.0f);
  };
  auto single = [&](int64_t i, int64_t j) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t p = 0; p < k8; p += 8) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * k + p), _mm256_loadu_ps(w + j * k + p), acc);
    }
    finish(acc, i, j);
  };
  int64_t j = n_begin;
  for (; j + 2 <= n_end; j += 2) {
    const float* w0 = w + j * k;
    const float* w1 = w0 + k;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      const float* x0 = x + i * k;
      const float* x1 = x0 + k;
      const float* x2 = x1 + k;
      const float* x3 = x2 + k;
      __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
      __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
      __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
      __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
      for (int64_t p = 0; p < k8; p += 8) {
        const __m256 b0 = _mm256_loadu_ps(w0 + p), b1 = _mm256_loadu_ps(w1 + p);
        __m256 a = _mm256_loadu_ps(x0 + p);
        a00 = _mm256_fmadd_ps(a, b0, a00);
        a01 = _mm256_fmadd_ps(a, b1, a01);
        a = _mm256_loadu_ps(x1 + p);
        a10 = _mm256_fmadd_ps(a, b0, a10);
        a11 = _mm256_fmadd_ps(a, b1, a11);
        a = _mm256_loadu_ps(x2 + p);
        a20 = _mm256_fmadd_ps(a, b0, a20);
        a21 = _mm256_fmadd_ps(a, b1, a21);
        a = _mm256_loadu_ps(x3 + p);
        a30 = _mm256_fmadd_ps(a, b0, a30);
        a31 = _mm256_fmadd_ps(a, b1, a31);
      }
      finish(a00, i, j);
      finish(a01, i, j + 1);
      finish(a10, i + 1, j);
      finish(a11, i + 1, j + 1);
      finish(a20, i + 2, j);
      finish(a21, i + 2, j + 1);
      finish(a30, i + 3, j);
      finish(a31, i + 3, j + 1);
    }
    for (; i < m; ++i) {
      single(i, j);
      single(i, j + 1);
    }
  }
  for (; j < n_end; ++j) {
    for (int64_t i = 0; i < m; ++i) single(i, j);
  }
}

// Weights stored [K, N]: four rows of x by sixteen columns of y per step (eight accumulators);
// each step broadcasts one x value per row and loads sixteen weights of one K row.
void LinearFewRowsKnAvx2(const float* x, int64_t m, int64_t k, const float* w_kn, const float* bias,
                         int64_t n, int64_t n_begin, int64_t n_end, float* y) {
  int64_t j = n_begin;
  for (; j + 16 <= n_end; j += 16) {
    const __m256 bias0 = bias != nullptr ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
    const __m256 bias1 = bias != nullptr ? _mm256_loadu_ps(bias + j + 8) : _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      __m256 a00 = bias0, a01 = bias1, a10 = bias0, a11 = bias1;
      __m256 a20 = bias0, a21 = bias1, a30 = bias0, a31 = bias1;
      const float* x0 = x + i * k;
      for (int64_t p = 0; p < k; ++p) {
        const __m256 b0 = _mm256_loadu_ps(w_kn + p * n + j);
        const __m256 b1 = _mm256_loadu_ps(w_kn + p * n + j + 8);
        __m256 a = _mm256_broadcast_ss(x0 + p);
        a00 = _mm256_fmadd_ps(a, b0, a00);
        a01 = _mm256_fmadd_ps(a, b1, a01);
        a = _mm256_broadcast_ss(x0 + k + p);
        a10 = _mm256_fmadd_ps(a, b0, a10);
        a11 = _mm256_fmadd_ps(a, b1, a11);
        a = _mm256_broadcast_ss(x0 + 2 * k + p);
        a20 = _mm256_fmadd_ps(a, b0, a20);
        a21 = _mm256_fmadd_ps(a, b1, a21);
        a = _mm256_broadcast_ss(x0 + 3 * k + p);
        a30 = _mm256_fmadd_ps(a, b0, a30);
        a31 = _mm256_fmadd_ps(a, b1, a31);
      }
      float* y0 = y + i * n + j;
      _mm256_storeu_ps(y0, a00);
      _mm256_storeu_ps(y0 + 8, a01);
      _mm256_storeu_ps(y0 + n, a10);
      _mm256_storeu_ps(y0 + n + 8, a11);
      _mm256_storeu_ps(y0 + 2 * n, a20);
      _mm256_storeu_ps(y0 + 2 * n + 8, a21);
      _mm256_storeu_ps(y0 + 3 * n, a30);
      _mm256_storeu_ps(y0 + 3 * n + 8, a31);
    }
    for (; i < m; ++i) {
      __m256 a0 = bias0, a1 = bias1;
      for (int64_t p = 0; p < k; ++p) {
        const __m256 a = _mm256_broadcast_ss(x + i * k + p);
        a0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(w_kn + p * n + j), a0);
        a1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(w_kn + p * n + j + 8), a1);
      }
      _mm256_storeu_ps(y + i * n + j, a0);
      _mm256_storeu_ps(y + i * n + j + 8, a1);
    }
  }
  for (; j < n_end; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      float acc = bias != nullptr ? bias[j] : 0.0f;
      for (int64_t p = 0; p < k; ++p) acc += x[i * k + p] * w_kn[p * n + j];
      y[i * n + j] = acc;
    }
  }
}

}  // namespace

const KernelTable* Avx2Kernels() {
  const KernelTable& ref = ReferenceKernels();
  // tanh and sigmoid only touch pooled [B, H] rows: the reference versions cost nothing.
  static const KernelTable kTable = {"avx2",
                                     LayerNormAvx2,
                                     GeluAvx2,
                                     GeluBackwardAvx2,
                                     ref.tanh,
                                     ref.sigmoid,
                                     SoftmaxRowsAvx2,
                                     AttentionHeadAvx2,
                                     L2NormalizeRowsAvx2,
                                     LinearFewRowsAvx2,
                                     LinearFewRowsKnAvx2};
  return &kTable;
}

}  // namespace trustformers::backends::cpu
