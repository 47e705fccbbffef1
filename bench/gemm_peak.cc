// How close our matrix products run to this machine's float32 peak. The peak is measured, not
// looked up: every thread runs independent FMA chains in registers (AVX2 and, where the CPU has
// it, AVX-512) long enough to reach steady clocks. Then the products a BERT layer needs go
// through backends::LinearKN (oneDNN) at benchmark batch sizes. Prints JSON lines.
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "backends/ops.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// 10 independent accumulators hide the FMA latency; each iteration is 10 FMAs of `lanes` floats.
template <typename Body>
double PeakGflops(Body body, int lanes) {
  constexpr int64_t kIterations = 200'000'000;
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const Clock::time_point begin = Clock::now();
    int threads = 1;
#pragma omp parallel
    {
#pragma omp single
      threads = omp_get_num_threads();
      body(kIterations / 10);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    best = std::max(best, 2.0 * 10.0 * lanes * double(kIterations / 10) * threads / seconds / 1e9);
  }
  return best;
}

__attribute__((target("avx2,fma"))) void Avx2Chains(int64_t n) {
  __m256 a[10];
  for (int i = 0; i < 10; ++i) a[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int64_t k = 0; k < n; ++k) {
    for (int i = 0; i < 10; ++i) a[i] = _mm256_fmadd_ps(a[i], x, y);
  }
  float sink[8];
  __m256 s = a[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, a[i]);
  _mm256_storeu_ps(sink, s);
  asm volatile("" : : "r"(sink) : "memory");
}

__attribute__((target("avx512f"))) void Avx512Chains(int64_t n) {
  __m512 a[10];
  for (int i = 0; i < 10; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int64_t k = 0; k < n; ++k) {
    for (int i = 0; i < 10; ++i) a[i] = _mm512_fmadd_ps(a[i], x, y);
  }
  float sink[16];
  __m512 s = a[0];
  for (int i = 1; i < 10; ++i) s = _mm512_add_ps(s, a[i]);
  _mm512_storeu_ps(sink, s);
  asm volatile("" : : "r"(sink) : "memory");
}

}  // namespace

int main() {
  using trustformers::backends::DType;
  using trustformers::backends::Tensor;
  __builtin_cpu_init();
  const double avx2 = PeakGflops(Avx2Chains, 8);
  const bool has_avx512 = __builtin_cpu_supports("avx512f");
  const double avx512 = has_avx512 ? PeakGflops(Avx512Chains, 16) : 0.0;
  const double peak = std::max(avx2, avx512);
  std::printf("%s\n", nlohmann::json{{"kind", "peak"},
                                     {"threads", omp_get_max_threads()},
                                     {"avx2_gflops", avx2},
                                     {"avx512_gflops", avx512},
                                     {"peak_gflops", peak}}
                          .dump()
                          .c_str());

  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  auto random = [&](int64_t rows, int64_t cols) {
    Tensor t = Tensor::Empty(DType::kF32, {rows, cols});
    for (int64_t i = 0; i < rows * cols; ++i) t.data<float>()[i] = dist(rng);
    return t;
  };
  // all-MiniLM's layer: QKV 384->1152, attention output 384->384, FFN 384->1536->384; M tokens.
  const int64_t shapes[][2] = {{384, 1152}, {384, 384}, {384, 1536}, {1536, 384}};
  for (int64_t m : {128, 4096}) {
    for (const auto& shape : shapes) {
      const int64_t k = shape[0], n = shape[1];
      const Tensor x = random(m, k), w = random(n, k), b = random(1, n);
      const Tensor bias = *b.Reshape({n});
      // The path models take: weights prepared once as [K, N].
      const Tensor w_kn = *trustformers::backends::PrepareLinearWeight(w);
      (void)trustformers::backends::LinearKN(x, w_kn, bias);
      int runs = 0;
      const Clock::time_point begin = Clock::now();
      double seconds = 0;
      while (seconds < 1.0) {
        (void)trustformers::backends::LinearKN(x, w_kn, bias);
        ++runs;
        seconds = std::chrono::duration<double>(Clock::now() - begin).count();
      }
      const double gflops = 2.0 * double(m) * double(k) * double(n) * runs / seconds / 1e9;
      std::printf("%s\n", nlohmann::json{{"kind", "linear"},
                                         {"m", m},
                                         {"k", k},
                                         {"n", n},
                                         {"gflops", gflops},
                                         {"fraction_of_peak", gflops / peak}}
                              .dump()
                              .c_str());
    }
  }
  return 0;
}
