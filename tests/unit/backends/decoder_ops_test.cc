// The decoder operations against plain formulas, and the AVX2 attention against the scalar one.
#include "backends/cpu/decoder_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/exp_polynomial.h"
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
  Rope(x.data(), 1, head_dim, 2, 4, RopeAngles(positions + 1, 1, params).data(), params);
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
  Rope(y.data(), 1, 4, 1, 4, RopeAngles(positions + 1, 1, params).data(), params);
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

// Attention rounds the query and the probabilities to f16 as llama.cpp does, so it is within
// about 2^-11 relative of exact arithmetic, not 1e-6. The AVX2 kernel and the scalar one must
// agree bit for bit in both orders of summation.
TEST_CASE("Causal attention over an f16 cache with grouped heads", "[decoder_ops]") {
  std::mt19937 rng(7);
  for (const int64_t d : {64, 80, 24, 20}) {  // 20: no AVX2 kernel (not a multiple of 8)
    const int64_t heads = 6, kv_heads = 2, first = 37, rows = 4, total = first + rows;
    const std::vector<float> q = Random(static_cast<size_t>(rows * heads * d), rng);
    std::vector<uint16_t> k(static_cast<size_t>(total * kv_heads * d)), v(k.size());
    const std::vector<float> kf = Random(k.size(), rng), vf = Random(v.size(), rng);
    FloatsToHalves(kf.data(), static_cast<int64_t>(k.size()), k.data());
    FloatsToHalves(vf.data(), static_cast<int64_t>(v.size()), v.data());
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    const std::vector<double> want =
        NaiveAttention(q, k, v, rows, first, heads, kv_heads, d, scale);
    // Rows reached through pointers, as a paged cache hands them out.
    std::vector<const uint16_t*> k_rows, v_rows;
    for (int64_t p = 0; p < total; ++p) {
      k_rows.push_back(k.data() + p * kv_heads * d);
      v_rows.push_back(v.data() + p * kv_heads * d);
    }
    std::vector<std::vector<float>> results;  // [order][kernel]
    for (const int64_t prompt_order_until : {int64_t{0}, first + 2, total}) {
      for (const bool reference : {true, false}) {
        CAPTURE(d, reference, prompt_order_until);
        UseReferenceDecoderKernels(reference);
        // One batch of two sequences (the same data twice) must give each its result alone.
        std::vector<float> out(q.size()), twin(q.size());
        const AttentionSequence<uint16_t> batch[] = {
            {q.data(), heads * d, rows, first, k_rows.data(), v_rows.data(), out.data(), heads * d,
             prompt_order_until},
            {q.data(), heads * d, rows, first, k_rows.data(), v_rows.data(), twin.data(), heads * d,
             prompt_order_until}};
        CausalAttentionF16(batch, heads, kv_heads, d, static_cast<float>(scale));
        for (size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == Approx(want[i]).margin(5e-3));
        CHECK(out == twin);
        results.push_back(out);
      }
      CHECK(results[results.size() - 2] == results.back());  // scalar == AVX2, bit for bit
    }
    // The order matters in the last bits (d = 24 has no prompt order: it is not a multiple of 16).
    if (d % 16 == 0) CHECK(results[0] != results[4]);
  }
  UseReferenceDecoderKernels(false);
}

TEST_CASE("Rope gives the same bits from both kernels, in both pairings", "[decoder_ops]") {
  std::mt19937 rng(9);
  const int64_t rows = 5, heads = 3, head_dim = 64;
  const std::vector<float> x = Random(static_cast<size_t>(rows * heads * head_dim), rng, 4.0f);
  const int32_t positions[] = {0, 1, 17, 300, 8191};
  for (const RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kHalves}) {
    for (const int64_t rotary_dims : {int64_t{64}, int64_t{36}}) {
      RopeParams params;
      params.rotary_dims = rotary_dims;
      params.freq_base = 100000.0f;
      params.style = style;
      std::vector<std::vector<float>> outs;
      for (const bool reference : {true, false}) {
        UseReferenceDecoderKernels(reference);
        std::vector<float> y = x;
        Rope(y.data(), rows, heads * head_dim, heads, head_dim,
             RopeAngles(positions, rows, params).data(), params);
        outs.push_back(y);
      }
      CHECK(outs[0] == outs[1]);
    }
  }
  UseReferenceDecoderKernels(false);
}

TEST_CASE("FloatsToHalves gives FloatToHalf's bits from both kernels", "[decoder_ops]") {
  std::mt19937 rng(5);
  std::vector<float> x = Random(1003, rng, 3000.0f);
  const float specials[] = {
      0.0f,  -0.0f, 65504.0f, 65520.0f,  1.0f + 1.0f / 2048,
      6e-8f, 3e-8f, 1e-10f,   -70000.0f, std::numeric_limits<float>::infinity()};
  std::copy(std::begin(specials), std::end(specials), x.begin());
  for (const bool reference : {true, false}) {
    UseReferenceDecoderKernels(reference);
    std::vector<uint16_t> out(x.size());
    FloatsToHalves(x.data(), static_cast<int64_t>(x.size()), out.data());
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(out[i] == FloatToHalf(x[i]));
  }
  UseReferenceDecoderKernels(false);
}

TEST_CASE("The polynomial exp is within 2.5 ulp of exp, with exact limits", "[decoder_ops]") {
  for (float x = -103.0f; x < 88.5f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const double got = exp_polynomial::Exp(x);
    CAPTURE(x, got, want);
    if (want >= 1.2e-38) {
      REQUIRE(std::fabs(got - want) <= 2.5 * std::ldexp(1.0, std::ilogb(want) - 23));
    } else {
      REQUIRE(std::fabs(got - want) <= std::ldexp(2.0, -149));  // subnormal: two units
    }
  }
  CHECK(exp_polynomial::Exp(0.0f) == 1.0f);
  CHECK(exp_polynomial::Exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(exp_polynomial::Exp(-200.0f) == 0.0f);
  CHECK(std::isinf(exp_polynomial::Exp(100.0f)));
  CHECK(std::isnan(exp_polynomial::Exp(std::nanf(""))));
}

TEST_CASE("SwiGlu is silu(gate) * up, the same bits from both kernels", "[decoder_ops]") {
  std::vector<float> gate = {-2.0f, 0.0f, 3.0f}, up = {1.0f, 5.0f, 0.5f};
  SwiGlu(gate.data(), up.data(), 3);
  CHECK(gate[0] == Approx(-2.0 / (1 + std::exp(2.0))));
  CHECK(gate[1] == 0.0f);
  CHECK(gate[2] == Approx(3.0 / (1 + std::exp(-3.0)) * 0.5));

  std::mt19937 rng(3);
  const std::vector<float> g = Random(1000, rng, 8.0f), u = Random(1000, rng);  // 1000 % 16 = 8
  std::vector<std::vector<float>> outs;
  for (const bool reference : {true, false}) {
    UseReferenceDecoderKernels(reference);
    std::vector<float> out = g;
    SwiGlu(out.data(), u.data(), static_cast<int64_t>(out.size()));
    for (size_t i = 0; i < out.size(); ++i) {
      const double silu = g[i] / (1.0 + std::exp(-static_cast<double>(g[i])));
      REQUIRE(out[i] == Approx(silu * u[i]).epsilon(1e-6).margin(1e-30));
    }
    outs.push_back(out);
  }
  UseReferenceDecoderKernels(false);
  CHECK(outs[0] == outs[1]);
}

}  // namespace
}  // namespace trustformers::backends::cpu
