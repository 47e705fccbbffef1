#include "backends/cpu/decoder_ops.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "backends/cpu/decoder_kernels.h"
#include "backends/tensor.h"

namespace trustformers::backends::cpu {
namespace {

// Every f16 value as a float: 256 KiB, built once, cheaper than converting in the inner loops.
const float* HalfTable() {
  static const std::unique_ptr<float[]> table = [] {
    auto t = std::make_unique<float[]>(1 << 16);
    for (uint32_t i = 0; i < (1u << 16); ++i) t[i] = HalfToFloat(static_cast<uint16_t>(i));
    return t;
  }();
  return table.get();
}

// The scalar kernel: the oracle of the AVX2 one and the fallback.
void AttendReference(const float* q, const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                     int64_t visible, int64_t head_dim, float scale, float* scores, float* out) {
  const float* half = HalfTable();
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < visible; ++s) {
    const uint16_t* ks = k + s * kv_stride;
    float dot = 0;
    for (int64_t d = 0; d < head_dim; ++d) dot += q[d] * half[ks[d]];
    scores[s] = dot * scale;
    max_score = std::max(max_score, scores[s]);
  }
  double sum = 0;
  for (int64_t s = 0; s < visible; ++s) {
    scores[s] = std::exp(scores[s] - max_score);
    sum += scores[s];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t s = 0; s < visible; ++s) {
    const uint16_t* vs = v + s * kv_stride;
    for (int64_t d = 0; d < head_dim; ++d) out[d] += scores[s] * half[vs[d]];
  }
  for (int64_t d = 0; d < head_dim; ++d) out[d] *= inverse;
}

std::atomic<bool> force_reference{false};

AttendFn AttendFor(int64_t head_dim) {
  static const AttendFn fast = [] {
    __builtin_cpu_init();
    // Every CPU with AVX2 also has F16C (it came a generation earlier on both Intel and AMD).
    const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return ok ? Avx2Attend() : nullptr;
  }();
  return fast != nullptr && head_dim % 8 == 0 && !force_reference ? fast : AttendReference;
}

}  // namespace

void UseReferenceDecoderKernels(bool reference) { force_reference = reference; }

void RmsNorm(const float* x, const float* weight, float epsilon, int64_t rows, int64_t n,
             float* out) {
#pragma omp parallel for schedule(static) if (rows * n > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = out + r * n;
    double sum = 0;  // ggml sums the squares in double
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + epsilon);
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * weight[i];
  }
}

void Rope(float* x, int64_t rows, int64_t stride, int64_t heads, int64_t head_dim,
          const int32_t* positions, const RopeParams& params) {
  const int64_t pairs = params.rotary_dims / 2;
  const float theta_scale =
      std::pow(params.freq_base, -2.0f / static_cast<float>(params.rotary_dims));
#pragma omp parallel if (rows * heads * pairs > (1 << 14))
  {
    std::vector<float> cos_sin(static_cast<size_t>(2 * pairs));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      // The angle of pair i is position * base^(-2i/d), stepped by repeated multiplication.
      float theta = static_cast<float>(positions[r]);
      for (int64_t i = 0; i < pairs; ++i) {
        const float factor = params.freq_factors.empty() ? 1.0f : params.freq_factors[i];
        const float angle = params.freq_scale * (theta / factor);
        cos_sin[2 * i] = std::cos(angle);
        cos_sin[2 * i + 1] = std::sin(angle);
        theta *= theta_scale;
      }
      float* row = x + r * stride;
      for (int64_t h = 0; h < heads; ++h) {
        float* head = row + h * head_dim;
        for (int64_t i = 0; i < pairs; ++i) {
          const int64_t a = params.style == RopeStyle::kInterleaved ? 2 * i : i;
          const int64_t b = params.style == RopeStyle::kInterleaved ? 2 * i + 1 : i + pairs;
          const float x0 = head[a], x1 = head[b];
          const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
          head[a] = x0 * c - x1 * s;
          head[b] = x0 * s + x1 * c;
        }
      }
    }
  }
}

void FloatsToHalves(const float* x, int64_t n, uint16_t* out) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToHalf(x[i]);
}

void CausalAttentionF16Cache(const float* q, int64_t q_stride, int64_t rows, int64_t first_position,
                             const uint16_t* k_cache, const uint16_t* v_cache, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, float scale, float* out,
                             int64_t out_stride) {
  const AttendFn attend = AttendFor(head_dim);
  const int64_t kv_stride = kv_heads * head_dim;
  const int64_t group = heads / kv_heads;
  const int64_t total = first_position + rows;
  const int64_t work = rows * heads;
#pragma omp parallel if (work * total * head_dim > (1 << 15))
  {
    std::vector<float> scores(static_cast<size_t>(total));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < work; ++item) {
      const int64_t r = item / heads;
      const int64_t h = item % heads;
      const int64_t kv = h / group;
      attend(q + r * q_stride + h * head_dim, k_cache + kv * head_dim, v_cache + kv * head_dim,
             kv_stride, first_position + r + 1, head_dim, scale, scores.data(),
             out + r * out_stride + h * head_dim);
    }
  }
}

void CausalAttentionF32Cache(const float* q, int64_t q_stride, int64_t rows, int64_t first_position,
                             const float* k_cache, const float* v_cache, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, float scale, float* out,
                             int64_t out_stride) {
  const int64_t kv_stride = kv_heads * head_dim;
  const int64_t group = heads / kv_heads;
  const int64_t total = first_position + rows;
  const int64_t work = rows * heads;
#pragma omp parallel if (work * total * head_dim > (1 << 15))
  {
    std::vector<double> scores(static_cast<size_t>(total));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < work; ++item) {
      const int64_t r = item / heads, h = item % heads, kv = h / group;
      const int64_t visible = first_position + r + 1;
      const float* qh = q + r * q_stride + h * head_dim;
      double max_score = -std::numeric_limits<double>::infinity();
      for (int64_t s = 0; s < visible; ++s) {
        const float* ks = k_cache + s * kv_stride + kv * head_dim;
        double dot = 0;
        for (int64_t d = 0; d < head_dim; ++d) dot += double{qh[d]} * ks[d];
        scores[s] = dot * scale;
        max_score = std::max(max_score, scores[s]);
      }
      double sum = 0;
      for (int64_t s = 0; s < visible; ++s) sum += (scores[s] = std::exp(scores[s] - max_score));
      float* oh = out + r * out_stride + h * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) {
        double acc = 0;
        for (int64_t s = 0; s < visible; ++s)
          acc += scores[s] * v_cache[s * kv_stride + kv * head_dim + d];
        oh[d] = static_cast<float>(acc / sum);
      }
    }
  }
}

void GeluTanh(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void AddTo(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void SwiGlu(float* gate, const float* up, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace trustformers::backends::cpu
