// The quantized matmul against float arithmetic on the dequantized weights, and the AVX2 kernels
// against the scalar ones, for every weight type, tile height and a few shapes.
#include "backends/cpu/quant/quant_matmul.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/quant/dequantize.h"
#include "backends/tensor.h"
#include "catch2/catch.hpp"

namespace trustformers::backends::cpu {
namespace {

// Random blocks of `type` with sane scales: random bytes, then every f16 scale field replaced
// by a small finite value (random bytes would include infinities and NaNs).
std::vector<uint8_t> RandomWeights(GgmlBlockType type, int64_t rows, int64_t cols,
                                   std::mt19937& rng) {
  const int64_t blocks = rows * cols / BlockSize(type);
  const int64_t bytes = blocks * BytesPerBlock(type);
  std::vector<uint8_t> data(static_cast<size_t>(bytes));
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  auto put_half = [&](int64_t offset, float value) {
    const uint16_t bits = FloatToHalf(value);
    std::memcpy(data.data() + offset, &bits, sizeof(bits));
  };
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t at = b * BytesPerBlock(type);
    switch (type) {
      case GgmlBlockType::kF32:
        for (int i = 0; i < 1; ++i) {
          const float v = normal(rng) * 0.1f;
          std::memcpy(data.data() + at, &v, sizeof(v));
        }
        break;
      case GgmlBlockType::kF16:
        put_half(at, normal(rng) * 0.1f);
        break;
      case GgmlBlockType::kBF16: {
        const float v = normal(rng) * 0.1f;
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof(bits));
        const uint16_t top = static_cast<uint16_t>(bits >> 16);
        std::memcpy(data.data() + at, &top, sizeof(top));
        break;
      }
      case GgmlBlockType::kQ4_0:
      case GgmlBlockType::kQ8_0:
        put_half(at, scale(rng));
        break;
      case GgmlBlockType::kQ4_1:
        put_half(at, scale(rng));
        put_half(at + 2, -8 * scale(rng));
        break;
      case GgmlBlockType::kQ4_K:
      case GgmlBlockType::kQ5_K:
        put_half(at, scale(rng) / 16);
        put_half(at + 2, scale(rng) / 16);
        break;
      case GgmlBlockType::kQ6_K:
        put_half(at + 208, scale(rng) / 32);
        break;
      default:
        FAIL("no generator for this type");
    }
  }
  return data;
}

std::vector<float> RandomActivations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  x[0] = 7.5f;  // an outlier, as real activations have
  return x;
}

const GgmlBlockType kTypes[] = {GgmlBlockType::kF32,  GgmlBlockType::kF16,  GgmlBlockType::kBF16,
                                GgmlBlockType::kQ4_0, GgmlBlockType::kQ4_1, GgmlBlockType::kQ8_0,
                                GgmlBlockType::kQ4_K, GgmlBlockType::kQ5_K, GgmlBlockType::kQ6_K};

struct Product {
  std::vector<float> y;
  std::vector<double> expected;   // float64 product of the dequantized weights and x
  std::vector<double> magnitude;  // sum |w * x|, the scale of the rounding error
};

Product Multiply(GgmlBlockType type, int64_t m, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<uint8_t> blocks = RandomWeights(type, n, k, rng);
  const std::vector<float> x = RandomActivations(m * k, rng);
  std::vector<float> w(static_cast<size_t>(n * k));
  REQUIRE(Dequantize(type, blocks, n * k, w.data()).ok());

  Product p;
  p.y.assign(static_cast<size_t>(m * n), NAN);
  std::vector<uint8_t> scratch;
  const QuantMatrix matrix{type, n, k, blocks.data()};
  const absl::Status s = QuantLinear(x.data(), m, k, matrix, p.y.data(), n, &scratch);
  REQUIRE(s.ok());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, mag = 0;
      for (int64_t t = 0; t < k; ++t) {
        const double prod = double{w[j * k + t]} * double{x[i * k + t]};
        sum += prod;
        mag += std::fabs(prod);
      }
      p.expected.push_back(sum);
      p.magnitude.push_back(mag);
    }
  }
  return p;
}

TEST_CASE("quantized matmul equals float arithmetic up to the activation rounding",
          "[quant_matmul]") {
  for (const bool reference : {true, false}) {
    UseReferenceQuantKernels(reference);
    for (const GgmlBlockType type : kTypes) {
      for (const int64_t m : {1, 2, 3, 4, 5, 9}) {
        CAPTURE(ActiveQuantKernels(), GgmlBlockTypeName(type), m);
        const int64_t k = 512, n = 37;
        const Product p = Multiply(type, m, n, k, static_cast<uint32_t>(m * 131 + 7));
        const bool float_weights = ActivationFormatFor(type) == ActivationFormat::kF32;
        // 8-bit activations with a per-block scale: each element is off by at most half a step
        // (amax / 254); the errors are independent so the sum's error is far below the bound.
        const double tolerance = float_weights ? 1e-6 : 1.5e-2;
        for (size_t i = 0; i < p.y.size(); ++i) {
          CAPTURE(i, p.y[i], p.expected[i], p.magnitude[i]);
          REQUIRE(std::isfinite(p.y[i]));
          REQUIRE(std::fabs(p.y[i] - p.expected[i]) <= tolerance * p.magnitude[i] + 1e-6);
        }
      }
    }
  }
  UseReferenceQuantKernels(false);
}

TEST_CASE("AVX2 quantized kernels equal the scalar ones", "[quant_matmul]") {
  if (!UseQuantKernels("avx2")) {
    WARN("this CPU has no AVX2: only the scalar kernels exist to test");
    return;
  }
  for (const GgmlBlockType type : kTypes) {
    for (const int64_t m : {1, 4, 7}) {
      CAPTURE(GgmlBlockTypeName(type), m);
      UseReferenceQuantKernels(true);
      const Product scalar = Multiply(type, m, 19, 768, 99);
      UseQuantKernels("avx2");
      const Product fast = Multiply(type, m, 19, 768, 99);
      for (size_t i = 0; i < fast.y.size(); ++i) {
        CAPTURE(i, fast.y[i], scalar.y[i]);
        // Same integer sums; only the order of the float additions differs.
        REQUIRE(std::fabs(fast.y[i] - scalar.y[i]) <= 1e-5 * scalar.magnitude[i] + 1e-6);
      }
    }
  }
  UseQuantKernels("");
}

// The vectorised activation quantizers and the VNNI dot products must not change a bit: the
// decoder's logits are compared with llama.cpp's for equality.
TEST_CASE("Vectorised kernels give the scalar quantization and the AVX2 products exactly",
          "[quant_matmul]") {
  if (!UseQuantKernels("avx2")) {
    WARN("this CPU has no AVX2");
    return;
  }
  std::mt19937 rng(11);
  const int64_t k = 1536;
  std::vector<float> x = RandomActivations(3 * k, rng);
  x[5] = 0;  // a block of zeros, and values on a rounding tie
  for (int i = 32; i < 64; ++i) x[static_cast<size_t>(i)] = 0;
  x[64] = 127.0f;
  x[65] = 0.5f;
  x[66] = -1.5f;
  for (const ActivationFormat format : {ActivationFormat::kQ8_0, ActivationFormat::kQ8_1}) {
    std::vector<uint8_t> fast, scalar;
    REQUIRE(QuantizeActivations(x.data(), 3, k, k, format, &fast).ok());
    UseReferenceQuantKernels(true);
    REQUIRE(QuantizeActivations(x.data(), 3, k, k, format, &scalar).ok());
    UseQuantKernels("avx2");
    CHECK(fast == scalar);
  }
  if (!UseQuantKernels("avx2+vnni")) {
    WARN("this CPU has no AVX-512 VNNI");
    UseQuantKernels("");
    return;
  }
  for (const GgmlBlockType type : kTypes) {
    for (const int64_t m : {1, 4, 7}) {
      CAPTURE(GgmlBlockTypeName(type), m);
      UseQuantKernels("avx2");
      const Product avx2 = Multiply(type, m, 19, 768, 99);
      UseQuantKernels("avx2+vnni");
      const Product vnni = Multiply(type, m, 19, 768, 99);
      CHECK(vnni.y == avx2.y);
    }
  }
  UseQuantKernels("");
}

TEST_CASE("several products of one activation equal separate ones", "[quant_matmul]") {
  std::mt19937 rng(3);
  const int64_t k = 256, m = 5;
  const std::vector<float> x = RandomActivations(m * k, rng);
  const std::vector<uint8_t> wq = RandomWeights(GgmlBlockType::kQ4_1, 40, k, rng);
  const std::vector<uint8_t> wk = RandomWeights(GgmlBlockType::kQ4_1, 17, k, rng);
  const QuantMatrix q{GgmlBlockType::kQ4_1, 40, k, wq.data()};
  const QuantMatrix kk{GgmlBlockType::kQ4_1, 17, k, wk.data()};
  std::vector<uint8_t> a;
  REQUIRE(QuantizeActivations(x.data(), m, k, k, ActivationFormat::kQ8_1, &a).ok());
  std::vector<float> yq(m * 40), yk(m * 17), zq(m * 40), zk(m * 17);
  REQUIRE(QuantMatmul(q, a, m, yq.data(), 40).ok());
  REQUIRE(QuantMatmul(kk, a, m, yk.data(), 17).ok());
  const QuantProduct products[] = {{&q, zq.data(), 40}, {&kk, zk.data(), 17}};
  REQUIRE(QuantMatmulMany(products, a, m).ok());
  CHECK(yq == zq);
  CHECK(yk == zk);
  // A product with another input width is refused.
  const std::vector<uint8_t> w2 = RandomWeights(GgmlBlockType::kQ4_1, 8, 2 * k, rng);
  const QuantMatrix wide{GgmlBlockType::kQ4_1, 8, 2 * k, w2.data()};
  std::vector<float> y2(m * 8);
  const QuantProduct mixed[] = {{&q, zq.data(), 40}, {&wide, y2.data(), 8}};
  CHECK(QuantMatmulMany(mixed, a, m).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("quantized matmul refuses malformed shapes", "[quant_matmul]") {
  std::vector<uint8_t> bytes(1000);
  std::vector<float> x(64), y(4);
  std::vector<uint8_t> scratch;
  // 48 is not a multiple of Q4_1's 32.
  absl::Status s =
      QuantLinear(x.data(), 1, 48, QuantMatrix{GgmlBlockType::kQ4_1, 1, 48, bytes.data()}, y.data(),
                  4, &scratch);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(s.message()).find("multiple of 32") != std::string::npos);
  // K-quant activations come in 256s.
  s = CheckQuantMatrix(QuantMatrix{GgmlBlockType::kQ4_K, 1, 128, bytes.data()});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  s = CheckQuantMatrix(QuantMatrix{GgmlBlockType::kQ4_0, 1, 32, nullptr});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  s = CheckQuantMatrix(QuantMatrix{static_cast<GgmlBlockType>(200), 1, 32, bytes.data()});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  // The output stride must cover the columns.
  std::vector<uint8_t> a;
  REQUIRE(QuantizeActivations(x.data(), 1, 32, 32, ActivationFormat::kQ8_1, &a).ok());
  s = QuantMatmul(QuantMatrix{GgmlBlockType::kQ4_1, 4, 32, bytes.data()}, a, 1, y.data(), 2);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("FloatToHalf rounds to nearest even and round-trips every half", "[quant_matmul]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = HalfToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(HalfToFloat(FloatToHalf(f))));
      continue;
    }
    REQUIRE(FloatToHalf(f) == bits);
  }
  REQUIRE(FloatToHalf(65504.0f) == 0x7bff);
  REQUIRE(FloatToHalf(65519.0f) == 0x7bff);
  REQUIRE(FloatToHalf(65520.0f) == 0x7c00);               // the midpoint rounds to even: infinity
  REQUIRE(FloatToHalf(1.0f + 1.0f / 2048) == 0x3c00);     // tie to even (down)
  REQUIRE(FloatToHalf(1.0f + 3.0f / 2048) == 0x3c02);     // tie to even (up)
  REQUIRE(FloatToHalf(std::ldexp(1.0f, -25)) == 0x0000);  // tie between 0 and the least subnormal
  REQUIRE(FloatToHalf(std::ldexp(1.5f, -25)) == 0x0001);
  REQUIRE(FloatToHalf(-std::ldexp(1.0f, -30)) == 0x8000);
}

}  // namespace
}  // namespace trustformers::backends::cpu
