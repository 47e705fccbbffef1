// exp(x) in single precision as ggml's vectorized CPU kernels compute it (softmax, SiLU): the
// argument reduced by a multiple n of ln 2 (rounded with the 1.5 * 2^23 shift), a degree-5
// polynomial in the remainder b, then a scaling by 2^n. Within 2 ulp of exp but not equal to
// libm's expf, and a decoder's activations go through it in every layer, so we use the same
// reduction, coefficients and operation order to give llama.cpp's logits bit for bit
// (tests/golden/llama/). This scalar form is the oracle of the AVX2 one in
// decoder_kernels_avx2.cc; both fuse the same multiply-adds.
#pragma once

#include <cmath>
#include <limits>

namespace trustformers::backends::cpu::exp_polynomial {

inline constexpr float kShift = 0x1.8p23f;       // adding it rounds x / ln 2 to an integer
inline constexpr float kLog2e = 0x1.715476p+0f;  // 1 / ln 2
inline constexpr float kLn2High = 0x1.62e4p-1f;  // ln 2 in two parts: the high one is exact
inline constexpr float kLn2Low = 0x1.7f7d1cp-20f;
// exp(b) ~ 1 + c1 b + c2 b^2 + ... + c5 b^5 on |b| <= ln 2 / 2.
inline constexpr float kC1 = 0x1.ffffecp-1f;
inline constexpr float kC2 = 0x1.fffdb6p-2f;
inline constexpr float kC3 = 0x1.555e66p-3f;
inline constexpr float kC4 = 0x1.573e2ep-5f;
inline constexpr float kC5 = 0x1.0e4020p-7f;
// Beyond |n| = 192 the result is 0 or infinity whatever the polynomial says.
inline constexpr float kLargestScale = 192.0f;

inline float Exp(float x) {
  if (std::isnan(x)) return x;
  const float n = std::fma(x, kLog2e, kShift) - kShift;
  const float b = std::fma(-n, kLn2Low, std::fma(-n, kLn2High, x));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(kC5, b, kC4), u, std::fma(kC3, b, kC2)), u,
                           std::fma(kC1, b, 1.0f));
  if (std::fabs(n) > kLargestScale) return n <= 0 ? 0.0f : std::numeric_limits<float>::infinity();
  return std::ldexp(j, static_cast<int>(n));
}

// x * sigmoid(x) through Exp, as x / (1 + exp(-x)).
inline float Silu(float x) { return x / (1.0f + Exp(-x)); }

}  // namespace trustformers::backends::cpu::exp_polynomial
