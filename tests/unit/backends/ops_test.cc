// Op parity: every op on the fast path (oneDNN, AVX2) against a naive scalar computation or the
// reference kernels, on random shapes including odd sizes that exercise vector tails.
#include "backends/ops.h"

#include <cmath>
#include <random>

#include "backends/cpu/onednn_matmul.h"
#include "backends/training_ops.h"
#include "catch2/catch.hpp"

namespace trustformers::backends {
namespace {

Tensor Random(Shape shape, std::mt19937& rng, float scale = 1.0f) {
  Tensor t = Tensor::Empty(DType::kF32, std::move(shape));
  std::normal_distribution<float> dist(0.0f, scale);
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.element_count(); ++i) d[i] = dist(rng);
  return t;
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0;
  for (int64_t i = 0; i < a.element_count(); ++i) {
    diff = std::max(diff, std::abs(double{a.data<float>()[i]} - b.data<float>()[i]));
  }
  return diff;
}

Tensor Copy(const Tensor& t) { return *t.ToF32(); }

// Runs `op` on the fast kernels and on the reference kernels.
template <typename Op>
std::pair<Tensor, Tensor> BothPaths(Op op) {
  UseReferenceCpuKernels(false);
  Tensor fast = op();
  UseReferenceCpuKernels(true);
  Tensor reference = op();
  UseReferenceCpuKernels(false);
  return {fast, reference};
}

const int64_t kOddSizes[] = {1, 3, 7, 8, 9, 31, 64, 100, 384};

TEST_CASE("ops: Linear matches a naive matrix product", "[backends][ops]") {
  std::mt19937 rng(1);
  for (int64_t m : {1, 5, 32, 77}) {
    for (int64_t k : {1, 7, 64, 384}) {
      for (int64_t n : {1, 9, 100}) {
        const Tensor x = Random({m, k}, rng), w = Random({n, k}, rng), b = Random({n}, rng);
        for (bool with_bias : {false, true}) {
          absl::StatusOr<Tensor> y = Linear(x, w, with_bias ? b : Tensor());
          REQUIRE(y.ok());
          Tensor expected = Tensor::Empty(DType::kF32, {m, n});
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double acc = with_bias ? b.data<float>()[j] : 0.0;
              for (int64_t p = 0; p < k; ++p) {
                acc += double{x.data<float>()[i * k + p]} * w.data<float>()[j * k + p];
              }
              expected.data<float>()[i * n + j] = static_cast<float>(acc);
            }
          }
          INFO(m << "x" << k << " * " << n << " bias " << with_bias);
          CHECK(MaxAbsDiff(*y, expected) < 1e-4 * std::sqrt(double(k)));
        }
      }
    }
  }
}

TEST_CASE("ops: the few-rows Linear kernel matches its reference on odd sizes", "[backends][ops]") {
  std::mt19937 rng(11);
  for (int64_t m : {1, 2, 3, 4, 5, 7, 16, 31, 32}) {
    for (int64_t k : {1, 7, 8, 13, 384}) {
      for (int64_t n : {1, 2, 3, 65, 130}) {
        const Tensor x = Random({m, k}, rng), w = Random({n, k}, rng), b = Random({n}, rng);
        auto [fast, ref] = BothPaths([&] { return *Linear(x, w, b); });
        INFO(m << "x" << k << " * " << n);
        CHECK(MaxAbsDiff(fast, ref) < 2e-5 * std::sqrt(double(k)));
      }
    }
  }
}

TEST_CASE("ops: LinearKN on prepared weights equals Linear on stored ones", "[backends][ops]") {
  std::mt19937 rng(12);
  for (int64_t m : {1, 3, 4, 9, 32, 33, 100}) {
    for (int64_t k : {1, 7, 384}) {
      for (int64_t n : {1, 15, 16, 17, 100}) {
        const Tensor x = Random({m, k}, rng), w = Random({n, k}, rng), b = Random({n}, rng);
        const Tensor w_kn = *PrepareLinearWeight(w);
        REQUIRE(w_kn.shape() == Shape{k, n});
        CHECK(w_kn.data<float>()[(k - 1) * n] == w.data<float>()[k - 1]);
        auto [fast, ref] = BothPaths([&] { return *LinearKN(x, w_kn, b); });
        const Tensor stored = *Linear(x, w, b);
        INFO(m << "x" << k << " * " << n);
        CHECK(MaxAbsDiff(fast, ref) < 2e-5 * std::sqrt(double(k)));
        CHECK(MaxAbsDiff(fast, stored) < 2e-5 * std::sqrt(double(k)));
      }
    }
  }
  CHECK(LinearKN(Random({2, 3}, rng), Random({4, 5}, rng), Tensor()).status().message() ==
        "LinearKN: input F32[2, 3] does not match weight F32[4, 5]");
}

TEST_CASE("ops: Linear primitives are created once per weight shape", "[backends][ops]") {
  std::mt19937 rng(2);
  const Tensor w = Random({48, 24}, rng);
  // Few-row products bypass oneDNN; the rest share one primitive whatever their row count.
  REQUIRE(Linear(Random({64, 24}, rng), w, Tensor()).ok());
  const int64_t before = cpu::OneDnnPrimitiveCount();
  for (int64_t m : {1, 2, 17, 33, 200, 1000}) {
    REQUIRE(Linear(Random({m, 24}, rng), w, Tensor()).ok());
  }
  CHECK(cpu::OneDnnPrimitiveCount() == before);
}

TEST_CASE("ops: LayerNorm with and without residual", "[backends][ops]") {
  std::mt19937 rng(3);
  for (int64_t h : kOddSizes) {
    const Tensor x = Random({13, h}, rng, 3.0f), r = Random({13, h}, rng);
    const Tensor g = Random({h}, rng), b = Random({h}, rng);
    for (bool residual : {false, true}) {
      auto [fast, ref] =
          BothPaths([&] { return *LayerNorm(x, residual ? r : Tensor(), g, b, 1e-12f); });
      INFO("h " << h << " residual " << residual);
      CHECK(MaxAbsDiff(fast, ref) < 2e-5);
    }
  }
}

TEST_CASE("ops: exact GELU, tanh, sigmoid and softmax", "[backends][ops]") {
  std::mt19937 rng(4);
  for (int64_t n : kOddSizes) {
    const Tensor x = Random({5, n}, rng, 4.0f);
    auto [gelu_fast, gelu_ref] = BothPaths([&] {
      Tensor t = Copy(x);
      REQUIRE(GeluInPlace(t).ok());
      return t;
    });
    CHECK(MaxAbsDiff(gelu_fast, gelu_ref) < 1e-6 * 8);
    auto [soft_fast, soft_ref] = BothPaths([&] {
      Tensor t = Copy(x);
      REQUIRE(SoftmaxRowsInPlace(t).ok());
      return t;
    });
    CHECK(MaxAbsDiff(soft_fast, soft_ref) < 1e-6);
    Tensor t = Copy(x), s = Copy(x);
    REQUIRE(TanhInPlace(t).ok());
    REQUIRE(SigmoidInPlace(s).ok());
    for (int64_t i = 0; i < x.element_count(); ++i) {
      CHECK(t.data<float>()[i] == Approx(std::tanh(x.data<float>()[i])).margin(1e-6));
      CHECK(s.data<float>()[i] == Approx(1.0 / (1.0 + std::exp(-x.data<float>()[i]))).margin(1e-6));
    }
  }
  // The backward of GELU (training), on both kernel paths.
  for (int64_t n : kOddSizes) {
    const Tensor x = Random({3, n}, rng, 4.0f), dy = Random({3, n}, rng);
    auto [fast, ref] = BothPaths([&] {
      absl::StatusOr<Tensor> dx = training::GeluBackward(dy, x);
      REQUIRE(dx.ok());
      return *dx;
    });
    CHECK(MaxAbsDiff(fast, ref) < 1e-6 * 8);
  }
  // Large magnitudes stay finite (exp clamps, softmax subtracts the row max).
  Tensor big =
      Tensor::FromVector({-1000.f, 0.f, 1000.f, 88.f, -88.f, 1e-30f, 30.f, -30.f, 5.f}, {1, 9});
  REQUIRE(GeluInPlace(big).ok());
  for (int i = 0; i < 9; ++i) CHECK(std::isfinite(big.data<float>()[i]));
  CHECK(big.data<float>()[0] == Approx(0.0).margin(1e-6));
  CHECK(big.data<float>()[2] == Approx(1000.0));
}

TEST_CASE("ops: packed attention equals per-sequence naive attention", "[backends][ops]") {
  std::mt19937 rng(5);
  for (int heads : {1, 3, 12}) {
    for (int64_t head_dim : {8, 13, 32}) {
      const SequenceOffsets offsets = {0, 1, 6, 6, 23, 54};  // includes an empty sequence
      const int64_t hidden = heads * head_dim;
      const Tensor qkv = Random({54, 3 * hidden}, rng);
      auto [fast, ref] = BothPaths([&] { return *PackedSelfAttention(qkv, heads, offsets); });
      INFO("heads " << heads << " head_dim " << head_dim);
      CHECK(MaxAbsDiff(fast, ref) < 2e-6);
      // Independent check: sequence 3 (rows 6..23) alone gives the same rows.
      const Tensor alone = *PackedSelfAttention(qkv.Rows(6, 23), heads, {0, 17});
      CHECK(MaxAbsDiff(alone, fast.Rows(6, 23)) == 0.0);
    }
  }
}

TEST_CASE("ops: pooling, normalisation, gather, concat, add", "[backends][ops]") {
  const Tensor x = Tensor::FromVector({1, 2, 3, 4, 5, 6, -1, 8}, {4, 2});
  const SequenceOffsets offsets = {0, 3, 4};
  Tensor mean = *Pool(x, offsets, PoolingMode::kMean);
  CHECK(mean.data<float>()[0] == 3.0f);
  CHECK(mean.data<float>()[1] == 4.0f);
  CHECK(mean.data<float>()[2] == -1.0f);
  Tensor first = *Pool(x, offsets, PoolingMode::kFirst);
  CHECK(first.data<float>()[1] == 2.0f);
  Tensor last = *Pool(x, offsets, PoolingMode::kLast);
  CHECK(last.data<float>()[0] == 5.0f);
  CHECK(last.data<float>()[2] == -1.0f);
  Tensor max = *Pool(x, offsets, PoolingMode::kMax);
  CHECK(max.data<float>()[0] == 5.0f);
  CHECK(max.data<float>()[1] == 6.0f);
  Tensor v = Tensor::FromVector({3, 4, 0, 0}, {2, 2});
  REQUIRE(L2NormalizeRowsInPlace(v).ok());
  CHECK(v.data<float>()[0] == Approx(0.6));
  CHECK(v.data<float>()[3] == 0.0f);

  Tensor rows = *Gather(x, {3, 0});
  CHECK(rows.data<float>()[0] == -1.0f);
  CHECK(rows.data<float>()[3] == 2.0f);
  CHECK(Gather(x, {4}).status().message().find("id 4 at position 0 is outside [0, 4)") !=
        std::string::npos);
  Tensor both = *ConcatRows({x, rows});
  CHECK(both.shape() == Shape{6, 2});
  CHECK(both.data<float>()[8] == -1.0f);
  CHECK(both.data<float>()[10] == 1.0f);
  Tensor y = Copy(x);
  REQUIRE(AddInPlace(y, x).ok());
  CHECK(y.data<float>()[7] == 16.0f);
}

TEST_CASE("ops: shape mismatches are errors naming the op and shapes", "[backends][ops]") {
  std::mt19937 rng(6);
  const Tensor x = Random({2, 3}, rng);
  CHECK(Linear(x, Random({4, 5}, rng), Tensor()).status().message() ==
        "Linear: input F32[2, 3] does not match weight F32[4, 5]");
  CHECK(Linear(x, Random({4, 3}, rng), Random({5}, rng)).status().message().find("bias") !=
        std::string::npos);
  CHECK(LayerNorm(x, Tensor(), Random({4}, rng), Random({3}, rng), 1e-5f).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PackedSelfAttention(Random({4, 9}, rng), 2, {0, 4})
            .status()
            .message()
            .find("is not 3 x 2 heads wide") != std::string::npos);
  CHECK(PackedSelfAttention(Random({4, 6}, rng), 1, {0, 3}).status().message().find("offsets") !=
        std::string::npos);
  CHECK(Pool(x, {0, 0, 2}, PoolingMode::kMean).status().message() == "Pool: sequence 0 is empty");
  Tensor half = Tensor::Zeros(DType::kF16, {2, 3});
  CHECK(GeluInPlace(half).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("tensor: F16 and BF16 convert to F32 exactly", "[backends][tensor]") {
  CHECK(HalfToFloat(0x3c00) == 1.0f);
  CHECK(HalfToFloat(0xc000) == -2.0f);
  CHECK(HalfToFloat(0x0001) == Approx(5.960464477539063e-08));
  CHECK(std::isinf(HalfToFloat(0x7c00)));
  CHECK(BFloat16ToFloat(0x3f80) == 1.0f);
  const uint16_t bits[] = {0x3c00, 0x4000};
  const Tensor h = Tensor::Borrow(DType::kF16, {2}, bits, nullptr);
  CHECK_FALSE(h.writable());
  const Tensor f = *h.ToF32();
  CHECK(f.data<float>()[1] == 2.0f);
  CHECK(h.Reshape({3}).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::backends
