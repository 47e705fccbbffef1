// Scalar reference kernels: written for clarity, in double where it matters, so the parity tests
// can hold the fast kernels to them.
#include <cmath>

#include "backends/cpu/kernels.h"

namespace trustformers::backends::cpu {
namespace {

void LayerNormRef(const float* x, const float* residual, const float* gamma, const float* beta,
                  float epsilon, int64_t rows, int64_t h, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * h;
    const float* rr = residual != nullptr ? residual + r * h : nullptr;
    float* o = out + r * h;
    double mean = 0;
    for (int64_t i = 0; i < h; ++i) {
      o[i] = xr[i] + (rr != nullptr ? rr[i] : 0.0f);
      mean += o[i];
    }
    mean /= static_cast<double>(h);
    double var = 0;
    for (int64_t i = 0; i < h; ++i) var += (o[i] - mean) * (o[i] - mean);
    var /= static_cast<double>(h);
    const double inv = 1.0 / std::sqrt(var + epsilon);
    for (int64_t i = 0; i < h; ++i) {
      o[i] = static_cast<float>((o[i] - mean) * inv * gamma[i] + beta[i]);
    }
  }
}

void GeluRef(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    x[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}

void GeluBackwardRef(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
    dx[i] = static_cast<float>(dy[i] * (cdf + v * pdf));
  }
}

void TanhRef(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

void SigmoidRef(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double{x[i]})));
}

void SoftmaxRowsRef(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    float max = row[0];
    for (int64_t i = 1; i < n; ++i) max = std::fmax(max, row[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double{row[i]} - max);
    for (int64_t i = 0; i < n; ++i)
      row[i] = static_cast<float>(std::exp(double{row[i]} - max) / sum);
  }
}

void AttentionHeadRef(const float* q, const float* k, const float* v, int64_t stride, int64_t len,
                      int64_t head_dim, float scale, float* out, int64_t out_stride,
                      float* scores) {
  for (int64_t i = 0; i < len; ++i) {
    const float* qi = q + i * stride;
    for (int64_t j = 0; j < len; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < head_dim; ++d) dot += double{qi[d]} * k[j * stride + d];
      scores[j] = static_cast<float>(dot * scale);
    }
    SoftmaxRowsRef(scores, 1, len);
    float* o = out + i * out_stride;
    for (int64_t d = 0; d < head_dim; ++d) {
      double acc = 0;
      for (int64_t j = 0; j < len; ++j) acc += double{scores[j]} * v[j * stride + d];
      o[d] = static_cast<float>(acc);
    }
  }
}

void L2NormalizeRowsRef(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * n;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double{row[i]} * row[i];
    // sentence-transformers divides by max(norm, 1e-12), as torch.nn.functional.normalize does.
    const double norm = std::fmax(std::sqrt(sum), 1e-12);
    for (int64_t i = 0; i < n; ++i) row[i] = static_cast<float>(row[i] / norm);
  }
}

void LinearFewRowsRef(const float* x, int64_t m, int64_t k, const float* w, const float* bias,
                      int64_t n, int64_t n_begin, int64_t n_end, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = n_begin; j < n_end; ++j) {
      double acc = bias != nullptr ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) acc += double{x[i * k + p]} * w[j * k + p];
      y[i * n + j] = static_cast<float>(acc);
    }
  }
}

void LinearFewRowsKnRef(const float* x, int64_t m, int64_t k, const float* w_kn, const float* bias,
                        int64_t n, int64_t n_begin, int64_t n_end, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = n_begin; j < n_end; ++j) {
      double acc = bias != nullptr ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) acc += double{x[i * k + p]} * w_kn[p * n + j];
      y[i * n + j] = static_cast<float>(acc);
    }
  }
}

}  // namespace

const KernelTable& ReferenceKernels() {
  static const KernelTable kTable = {"reference",      LayerNormRef,      GeluRef,
                                     GeluBackwardRef,  TanhRef,           SigmoidRef,
                                     SoftmaxRowsRef,   AttentionHeadRef,  L2NormalizeRowsRef,
                                     LinearFewRowsRef, LinearFewRowsKnRef};
  return kTable;
}

}  // namespace trustformers::backends::cpu
