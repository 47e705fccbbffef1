// The decoder operations against plain formulas, and the AVX2 attention against the scalar one.
#include "backends/cpu/decoder_ops.h"

#include <cmath>
#include <random>
#include <vector>

#include "backends/tensor.h"
#include "catch2/catch.hpp"

namespace trustformers::backends::cpu {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

TEST_CASE("RmsNorm scales each row to unit root mean square", "[decoder_ops]") {
  std::mt19937 rng(1);
  const std::vector<float> x = Random(3 * 64, rng, 3.0f);
  std::vector<float> weight(64, 2.0f), out(x.size());
  RmsNorm(x.data(), weight.data(), 1e-6f, 3, 64, out.data());
  for (int r = 0; r < 3; ++r) {
    double ms = 0;
    for (int i = 0; i < 64; ++i) ms += out[r * 64 + i] * out[r * 64 + i];
    CHECK(std::sqrt(ms / 64) == Approx(2.0).epsilon(1e-5));
  }
}

TEST_CASE("Rope rotates pairs by position times the frequency", "[decoder_ops]") {
  const int64_t head_dim = 8;
  std::vector<float> x(2 * head_dim, 0.0f);
  for (int64_t i = 0; i < 2 * head_dim; i += 2) x[i] = 1.0f;  // every pair (1, 0)
  const int32_t positions[] = {0, 3};
  RopeParams params;
  params.rotary_dims = head_dim;
  params.freq_base = 10000.0f;
  params.rotary_dims = 4;
  Rope(x.data(), 1, head_dim, 2, 4, positions + 1, params);
  // Two heads of 4 in one row at position 3: pair i turns by 3 * 10000^(-2i/8).
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 2; ++i) {
      const double angle = 3.0 * std::pow(10000.0, -2.0 * i / 4.0);
      CHECK(x[h * 4 + 2 * i] == Approx(std::cos(angle)).margin(1e-5));
      CHECK(x[h * 4 + 2 * i + 1] == Approx(std::sin(angle)).margin(1e-5));
    }
  }
  // Halves pair dimension i with i + d/2.
  std::vector<float> y = {1, 1, 0, 0};
  params.rotary_dims = 4;
  params.style = RopeStyle::kHalves;
  Rope(y.data(), 1, 4, 1, 4, positions + 1, params);
  CHECK(y[0] == Approx(std::cos(3.0)).margin(1e-6));
  CHECK(y[2] == Approx(std::sin(3.0)).margin(1e-6));
  CHECK(y[1] == Approx(std::cos(3.0 * 0.01)).margin(1e-6));
  CHECK(y[3] == Approx(std::sin(3.0 * 0.01)).margin(1e-6));
}

// Causal attention computed directly in double from the f16 cache.
std::vector<double> NaiveAttention(const std::vector<float>& q, const std::vector<uint16_t>& k,
                                   const std::vector<uint16_t>& v, int64_t rows, int64_t first,
                                   int64_t heads, int64_t kv_heads, int64_t d, double scale) {
  std::vector<double> out(static_cast<size_t>(rows * heads * d), 0.0);
  const int64_t kv_stride = kv_heads * d;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kv = h / (heads / kv_heads);
      const int64_t visible = first + r + 1;
      std::vector<double> w(static_cast<size_t>(visible));
      double max = -1e300, sum = 0;
      for (int64_t s = 0; s < visible; ++s) {
        double dot = 0;
        for (int64_t i = 0; i < d; ++i) {
          dot += q[r * heads * d + h * d + i] * HalfToFloat(k[s * kv_stride + kv * d + i]);
        }
        w[s] = dot * scale;
        max = std::max(max, w[s]);
      }
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int64_t s = 0; s < visible; ++s) {
        for (int64_t i = 0; i < d; ++i) {
          out[r * heads * d + h * d + i] += w[s] / sum * HalfToFloat(v[s * kv_stride + kv * d + i]);
        }
      }
    }
  }
  return out;
}

TEST_CASE("Causal attention over an f16 cache with grouped heads", "[decoder_ops]") {
  std::mt19937 rng(7);
  for (const int64_t d : {64, 24, 20}) {  // 20: no AVX2 kernel (not a multiple of 8)
    const int64_t heads = 6, kv_heads = 2, first = 5, rows = 4, total = first + rows;
    const std::vector<float> q = Random(static_cast<size_t>(rows * heads * d), rng);
    std::vector<uint16_t> k(static_cast<size_t>(total * kv_heads * d)), v(k.size());
    const std::vector<float> kf = Random(k.size(), rng), vf = Random(v.size(), rng);
    FloatsToHalves(kf.data(), static_cast<int64_t>(k.size()), k.data());
    FloatsToHalves(vf.data(), static_cast<int64_t>(v.size()), v.data());
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    const std::vector<double> want =
        NaiveAttention(q, k, v, rows, first, heads, kv_heads, d, scale);
    for (const bool reference : {true, false}) {
      CAPTURE(d, reference);
      UseReferenceDecoderKernels(reference);
      // Rows reached through pointers, as a paged cache hands them out; one batch of two
      // sequences (the same data twice) must give each the result it gets alone.
      std::vector<const uint16_t*> k_rows, v_rows;
      for (int64_t p = 0; p < total; ++p) {
        k_rows.push_back(k.data() + p * kv_heads * d);
        v_rows.push_back(v.data() + p * kv_heads * d);
      }
      std::vector<float> out(q.size()), twin(q.size());
      const AttentionSequence<uint16_t> batch[] = {
          {q.data(), heads * d, rows, first, k_rows.data(), v_rows.data(), out.data(), heads * d},
          {q.data(), heads * d, rows, first, k_rows.data(), v_rows.data(), twin.data(), heads * d}};
      CausalAttentionF16(batch, heads, kv_heads, d, static_cast<float>(scale));
      for (size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == Approx(want[i]).margin(1e-5));
      CHECK(out == twin);
    }
  }
  UseReferenceDecoderKernels(false);
}

TEST_CASE("SwiGlu is silu(gate) * up", "[decoder_ops]") {
  std::vector<float> gate = {-2.0f, 0.0f, 3.0f}, up = {1.0f, 5.0f, 0.5f};
  SwiGlu(gate.data(), up.data(), 3);
  CHECK(gate[0] == Approx(-2.0 / (1 + std::exp(2.0))));
  CHECK(gate[1] == 0.0f);
  CHECK(gate[2] == Approx(3.0 / (1 + std::exp(-3.0)) * 0.5));
}

}  // namespace
}  // namespace trustformers::backends::cpu
