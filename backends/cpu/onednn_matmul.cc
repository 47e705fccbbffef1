#include "backends/cpu/onednn_matmul.h"

#include <map>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace trustformers::backends::cpu {
namespace {

using dnnl::memory;

class MatmulCache {
 public:
  static MatmulCache& Get() {
    static MatmulCache* cache = new MatmulCache();  // lives for the process: kernels may run late
    return *cache;
  }

  const dnnl::engine& engine() const { return engine_; }

  // The primitive for (k, n, bias); created on first use.
  static memory::dims WeightStrides(int64_t k, int64_t n, WeightLayout layout) {
    return layout == WeightLayout::kNK ? memory::dims{1, k} : memory::dims{n, 1};
  }

  dnnl::matmul Primitive(int64_t k, int64_t n, bool bias, WeightLayout layout) {
    std::lock_guard lock(mutex_);
    const auto key = std::make_tuple(k, n, bias, layout);
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second;
    const memory::desc src({DNNL_RUNTIME_DIM_VAL, k}, memory::data_type::f32, {k, 1});
    // The K x N matrix either way: [N, K] storage is read with strides (1, K).
    const memory::desc weights({k, n}, memory::data_type::f32, WeightStrides(k, n, layout));
    const memory::desc dst({DNNL_RUNTIME_DIM_VAL, n}, memory::data_type::f32, {n, 1});
    dnnl::matmul::desc desc =
        bias ? dnnl::matmul::desc(src, weights,
                                  memory::desc({1, n}, memory::data_type::f32, {n, 1}), dst)
             : dnnl::matmul::desc(src, weights, dst);
    dnnl::matmul primitive(dnnl::matmul::primitive_desc(desc, engine_));
    primitives_.emplace(key, primitive);
    return primitive;
  }

  // y[M, N] = a^T w with a stored [K, M]: the source read with strides (1, M).
  dnnl::matmul TransposedPrimitive(int64_t m, int64_t k, int64_t n, WeightLayout layout) {
    std::lock_guard lock(mutex_);
    const auto key = std::make_tuple(m, k, n, layout);
    auto it = transposed_.find(key);
    if (it != transposed_.end()) return it->second;
    const memory::desc src({m, k}, memory::data_type::f32, {1, m});
    const memory::desc weights({k, n}, memory::data_type::f32, WeightStrides(k, n, layout));
    const memory::desc dst({m, n}, memory::data_type::f32, {n, 1});
    dnnl::matmul primitive(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), engine_));
    transposed_.emplace(key, primitive);
    return primitive;
  }

  static memory::desc BatchedDesc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
    return memory::desc(
        {batch, rows, cols}, memory::data_type::f32,
        transposed ? memory::dims{rows * cols, 1, rows} : memory::dims{rows * cols, cols, 1});
  }

  dnnl::matmul BatchedPrimitive(int64_t batch, int64_t m, int64_t k, int64_t n, bool trans_a,
                                bool trans_b) {
    std::lock_guard lock(mutex_);
    const auto key = std::make_tuple(batch, m, k, n, trans_a, trans_b);
    auto it = batched_.find(key);
    if (it != batched_.end()) return it->second;
    dnnl::matmul primitive(dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(BatchedDesc(batch, m, k, trans_a), BatchedDesc(batch, k, n, trans_b),
                           BatchedDesc(batch, m, n, false)),
        engine_));
    batched_.emplace(key, primitive);
    return primitive;
  }

  int64_t size() {
    std::lock_guard lock(mutex_);
    return static_cast<int64_t>(primitives_.size() + transposed_.size() + batched_.size());
  }

 private:
  MatmulCache() : engine_(dnnl::engine::kind::cpu, 0) {}

  dnnl::engine engine_;
  std::mutex mutex_;
  std::map<std::tuple<int64_t, int64_t, bool, WeightLayout>, dnnl::matmul> primitives_;
  std::map<std::tuple<int64_t, int64_t, int64_t, WeightLayout>, dnnl::matmul> transposed_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool>, dnnl::matmul> batched_;
};

}  // namespace

absl::Status OneDnnLinear(const float* x, int64_t m, int64_t k, const float* w, int64_t n,
                          const float* bias, float* y, WeightLayout layout) {
  if (m == 0) return absl::OkStatus();
  try {
    MatmulCache& cache = MatmulCache::Get();
    dnnl::matmul primitive = cache.Primitive(k, n, bias != nullptr, layout);
    const dnnl::engine& engine = cache.engine();
    memory src({{m, k}, memory::data_type::f32, {k, 1}}, engine, const_cast<float*>(x));
    memory weights({{k, n}, memory::data_type::f32, MatmulCache::WeightStrides(k, n, layout)},
                   engine, const_cast<float*>(w));
    memory dst({{m, n}, memory::data_type::f32, {n, 1}}, engine, y);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (bias != nullptr) {
      args.emplace(DNNL_ARG_BIAS, memory({{1, n}, memory::data_type::f32, {n, 1}}, engine,
                                         const_cast<float*>(bias)));
    }
    dnnl::stream stream(engine);
    primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul [", m, " x ", k, "] x [", k, " x ", n,
                                            "] failed: ", e.what(), " (status ",
                                            static_cast<int>(e.status), ")"));
  }
  return absl::OkStatus();
}

absl::Status OneDnnMatMulTransA(const float* a_km, int64_t m, int64_t k, const float* w, int64_t n,
                                float* y, WeightLayout layout) {
  if (m == 0 || n == 0) return absl::OkStatus();
  try {
    MatmulCache& cache = MatmulCache::Get();
    dnnl::matmul primitive = cache.TransposedPrimitive(m, k, n, layout);
    const dnnl::engine& engine = cache.engine();
    memory src({{m, k}, memory::data_type::f32, {1, m}}, engine, const_cast<float*>(a_km));
    memory weights({{k, n}, memory::data_type::f32, MatmulCache::WeightStrides(k, n, layout)},
                   engine, const_cast<float*>(w));
    memory dst({{m, n}, memory::data_type::f32, {n, 1}}, engine, y);
    dnnl::stream stream(engine);
    primitive.execute(stream,
                      {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN matmul [", k, " x ", m, "]^T x [", k, " x ", n,
                                            "] failed: ", e.what(), " (status ",
                                            static_cast<int>(e.status), ")"));
  }
  return absl::OkStatus();
}

absl::Status OneDnnBatchedMatMul(const float* a, const float* b, int64_t batch, int64_t m,
                                 int64_t k, int64_t n, bool trans_a, bool trans_b, float* y) {
  if (batch == 0 || m == 0 || n == 0) return absl::OkStatus();
  try {
    MatmulCache& cache = MatmulCache::Get();
    dnnl::matmul primitive = cache.BatchedPrimitive(batch, m, k, n, trans_a, trans_b);
    const dnnl::engine& engine = cache.engine();
    memory src(MatmulCache::BatchedDesc(batch, m, k, trans_a), engine, const_cast<float*>(a));
    memory weights(MatmulCache::BatchedDesc(batch, k, n, trans_b), engine, const_cast<float*>(b));
    memory dst(MatmulCache::BatchedDesc(batch, m, n, false), engine, y);
    dnnl::stream stream(engine);
    primitive.execute(stream,
                      {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN batched matmul ", batch, " x [", m, " x ", k,
                                            "] x [", k, " x ", n, "] failed: ", e.what(),
                                            " (status ", static_cast<int>(e.status), ")"));
  }
  return absl::OkStatus();
}

int64_t OneDnnPrimitiveCount() { return MatmulCache::Get().size(); }

}  // namespace trustformers::backends::cpu
