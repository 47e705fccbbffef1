// CPU implementation of backends/training_ops.h: plain C++ loops (accumulating in double where a
// sum runs over a row), with matrix products through oneDNN.
#include "backends/training_ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/onednn_matmul.h"

namespace trustformers::backends::training {
namespace {

// Below this many elements a loop runs on the calling thread: waking the team costs more.
constexpr int64_t kParallelElements = 1 << 15;

absl::Status ExpectF32(const Tensor& t, absl::string_view op, absl::string_view name,
                       int min_rank = 0) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " is missing"));
  if (t.dtype() != DType::kF32 || !t.is_contiguous() || t.rank() < min_rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must be a contiguous F32 ",
                                                   "tensor of rank >= ", min_rank, ", got ",
                                                   t.Describe()));
  }
  return absl::OkStatus();
}

absl::Status ExpectSameShape(const Tensor& a, const Tensor& b, absl::string_view op) {
  if (a.shape() != b.shape()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": shapes differ: ", a.Describe(), " and ", b.Describe()));
  }
  return absl::OkStatus();
}

// Copies the elements of `src` read with `strides` (any, zero for broadcast dimensions) in
// row-major order of `shape` into the contiguous `dst`.
void StridedCopy(const float* src, const Shape& shape, const Shape& strides, float* dst) {
  const int rank = static_cast<int>(shape.size());
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (count == 0) return;
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = shape[static_cast<size_t>(rank - 1)];
  const int64_t inner_stride = strides[static_cast<size_t>(rank - 1)];
  const int64_t rows = count / inner;
  // Each row's source offset from its multi-index, so rows can be copied in any order.
#pragma omp parallel for schedule(static) if (count > kParallelElements)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offset = 0, rest = row;
    for (int d = rank - 2; d >= 0; --d) {
      const size_t u = static_cast<size_t>(d);
      offset += (rest % shape[u]) * strides[u];
      rest /= shape[u];
    }
    float* out = dst + row * inner;
    const float* in = src + offset;
    if (inner_stride == 1) {
      std::memcpy(out, in, static_cast<size_t>(inner) * sizeof(float));
    } else {
      for (int64_t i = 0; i < inner; ++i) out[i] = in[i * inner_stride];
    }
  }
}

// Strides reading `from` as if it had shape `to` (broadcast dimensions get stride 0).
Shape BroadcastStrides(const Shape& from, const Shape& to) {
  Shape strides(to.size(), 0);
  const Shape contiguous = ContiguousStrides(from);
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    strides[lead + i] = from[i] == to[lead + i] ? contiguous[i] : 0;
  }
  return strides;
}

template <typename Fn>
absl::StatusOr<Tensor> Elementwise(const Tensor& a, const Tensor& b, absl::string_view op, Fn fn) {
  if (absl::Status s = ExpectF32(a, op, "a"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(b, op, "b"); !s.ok()) return s;
  if (absl::Status s = ExpectSameShape(a, b, op); !s.ok()) return s;
  Tensor out = Tensor::Empty(DType::kF32, a.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  const int64_t n = a.element_count();
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], pb[i]);
  return out;
}

// Rows of the last dimension: x viewed as [rows, width].
struct RowView {
  int64_t rows;
  int64_t width;
};
RowView Rows(const Tensor& x) {
  const int64_t width = x.rank() == 0 ? 1 : x.dim(-1);
  return {width == 0 ? 0 : x.element_count() / width, width};
}

}  // namespace

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat("Broadcast: shapes ", ShapeString(a), " and ",
                                                     ShapeString(b), " are not compatible"));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

absl::StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& shape) {
  if (absl::Status s = ExpectF32(x, "BroadcastTo", "x"); !s.ok()) return s;
  absl::StatusOr<Shape> common = BroadcastShapes(x.shape(), shape);
  if (!common.ok() || *common != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("BroadcastTo: cannot broadcast ", x.Describe(), " to ", ShapeString(shape)));
  }
  Tensor out = Tensor::Empty(DType::kF32, shape);
  StridedCopy(x.data<float>(), shape, BroadcastStrides(x.shape(), shape), out.data<float>());
  return out;
}

absl::StatusOr<Tensor> SumToShape(const Tensor& dy, const Shape& shape) {
  if (absl::Status s = ExpectF32(dy, "SumToShape", "dy"); !s.ok()) return s;
  absl::StatusOr<Shape> common = BroadcastShapes(shape, dy.shape());
  if (!common.ok() || *common != dy.shape()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SumToShape: ", dy.Describe(), " does not broadcast from ", ShapeString(shape)));
  }
  if (shape == dy.shape()) return Affine(dy, 1.0f, 0.0f);
  const Shape& full = dy.shape();
  // The common case (a bias, a position table): `shape` is dy's trailing dimensions, so dy is
  // [outer, inner] rows summed into one row. Each thread owns a band of columns.
  {
    Shape trimmed = shape;
    while (!trimmed.empty() && trimmed.front() == 1) trimmed.erase(trimmed.begin());
    if (trimmed.size() <= full.size() &&
        std::equal(trimmed.begin(), trimmed.end(),
                   full.end() - static_cast<ptrdiff_t>(trimmed.size()))) {
      int64_t inner = 1;
      for (int64_t d : trimmed) inner *= d;
      const int64_t outer = inner == 0 ? 0 : dy.element_count() / inner;
      Tensor out = Tensor::Empty(DType::kF32, shape);
      const float* src = dy.data<float>();
      float* dst = out.data<float>();
      constexpr int64_t kBand = 64;
#pragma omp parallel for schedule(static) if (dy.element_count() > kParallelElements)
      for (int64_t begin = 0; begin < inner; begin += kBand) {
        const int64_t end = std::min(inner, begin + kBand);
        double sums[kBand] = {};
        for (int64_t r = 0; r < outer; ++r) {
          const float* row = src + r * inner;
          for (int64_t j = begin; j < end; ++j) sums[j - begin] += row[j];
        }
        for (int64_t j = begin; j < end; ++j) dst[j] = static_cast<float>(sums[j - begin]);
      }
      return out;
    }
  }
  // Walk dy in order; each element adds into the target element it was broadcast from.
  const Shape strides = BroadcastStrides(shape, full);
  int64_t target_count = 1;
  for (int64_t d : shape) target_count *= d;
  std::vector<double> sums(static_cast<size_t>(target_count), 0.0);
  const float* src = dy.data<float>();
  const int rank = static_cast<int>(full.size());
  std::vector<int64_t> index(full.size(), 0);
  int64_t offset = 0;
  const int64_t count = dy.element_count();
  for (int64_t i = 0; i < count; ++i) {
    sums[static_cast<size_t>(offset)] += src[i];
    for (int d = rank - 1; d >= 0; --d) {
      const size_t u = static_cast<size_t>(d);
      offset += strides[u];
      if (++index[u] < full[u]) break;
      offset -= strides[u] * full[u];
      index[u] = 0;
    }
  }
  Tensor out = Tensor::Empty(DType::kF32, shape);
  float* dst = out.data<float>();
  for (size_t i = 0; i < sums.size(); ++i) dst[i] = static_cast<float>(sums[i]);
  return out;
}

absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b) {
  return Elementwise(a, b, "Add", [](float x, float y) { return x + y; });
}
absl::StatusOr<Tensor> Sub(const Tensor& a, const Tensor& b) {
  return Elementwise(a, b, "Sub", [](float x, float y) { return x - y; });
}
absl::StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b) {
  return Elementwise(a, b, "Mul", [](float x, float y) { return x * y; });
}

Tensor Affine(const Tensor& x, float scale, float shift) {
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.element_count();
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale + shift;
  return out;
}

Tensor Full(const Shape& shape, float value) {
  Tensor out = Tensor::Empty(DType::kF32, shape);
  std::fill_n(out.data<float>(), out.element_count(), value);
  return out;
}

Tensor SumAll(const Tensor& x) {
  double sum = 0;
  const float* src = x.data<float>();
  for (int64_t i = 0; i < x.element_count(); ++i) sum += src[i];
  return Full({}, static_cast<float>(sum));
}

absl::StatusOr<Tensor> Transpose(const Tensor& x, int d0, int d1) {
  if (absl::Status s = ExpectF32(x, "Transpose", "x"); !s.ok()) return s;
  const int rank = x.rank();
  if (d0 < 0) d0 += rank;
  if (d1 < 0) d1 += rank;
  if (d0 < 0 || d0 >= rank || d1 < 0 || d1 >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("Transpose: dimensions out of range for ", x.Describe()));
  }
  Shape shape = x.shape();
  Shape strides = x.strides();
  std::swap(shape[static_cast<size_t>(d0)], shape[static_cast<size_t>(d1)]);
  std::swap(strides[static_cast<size_t>(d0)], strides[static_cast<size_t>(d1)]);
  Tensor out = Tensor::Empty(DType::kF32, shape);
  StridedCopy(x.data<float>(), shape, strides, out.data<float>());
  return out;
}

absl::StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  constexpr absl::string_view kOp = "MatMul";
  if (absl::Status s = ExpectF32(a, kOp, "a", 2); !s.ok()) return s;
  if (absl::Status s = ExpectF32(b, kOp, "b", 2); !s.ok()) return s;
  const int64_t m = trans_a ? a.dim(-1) : a.dim(-2);
  const int64_t k = trans_a ? a.dim(-2) : a.dim(-1);
  const int64_t kb = trans_b ? b.dim(-1) : b.dim(-2);
  const int64_t n = trans_b ? b.dim(-2) : b.dim(-1);
  const Shape batch(a.shape().begin(), a.shape().end() - 2);
  const bool shared_b = b.rank() == 2;
  const bool batch_ok = shared_b || (b.rank() == a.rank() &&
                                     std::equal(batch.begin(), batch.end(), b.shape().begin()));
  if (k != kb || !batch_ok) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": ", a.Describe(), (trans_a ? "^T" : ""),
                                                   " x ", b.Describe(), (trans_b ? "^T" : ""),
                                                   " do not multiply"));
  }
  int64_t batches = 1;
  for (int64_t d : batch) batches *= d;
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  if (m == 0 || n == 0 || k == 0 || batches == 0) return Tensor::Zeros(DType::kF32, out_shape);
  Tensor out = Tensor::Empty(DType::kF32, out_shape);  // every element is written below
  const auto layout = trans_b ? cpu::WeightLayout::kNK : cpu::WeightLayout::kKN;
  // Without a transposed a and with a shared b, all batches are one [batches * M, K] product.
  if (shared_b && !trans_a) {
    absl::Status status = cpu::OneDnnLinear(a.data<float>(), batches * m, k, b.data<float>(), n,
                                            nullptr, out.data<float>(), layout);
    if (!status.ok()) return status;
    return out;
  }
  if (!shared_b && batches > 1) {
    absl::Status status = cpu::OneDnnBatchedMatMul(a.data<float>(), b.data<float>(), batches, m, k,
                                                   n, trans_a, trans_b, out.data<float>());
    if (!status.ok()) return status;
    return out;
  }
  for (int64_t i = 0; i < batches; ++i) {
    const float* pa = a.data<float>() + i * m * k;
    const float* pb = b.data<float>() + (shared_b ? 0 : i * k * n);
    float* py = out.data<float>() + i * m * n;
    absl::Status status = trans_a ? cpu::OneDnnMatMulTransA(pa, m, k, pb, n, py, layout)
                                  : cpu::OneDnnLinear(pa, m, k, pb, n, nullptr, py, layout);
    if (!status.ok()) return status;
  }
  return out;
}

absl::StatusOr<MatMulGrads> MatMulBackward(const Tensor& dy, const Tensor& a, const Tensor& b) {
  MatMulGrads grads;
  absl::StatusOr<Tensor> da = MatMul(dy, b, false, true);  // [..., M, N] x [.., K, N]^T
  if (!da.ok()) return da.status();
  grads.da = *std::move(da);
  if (b.rank() == 2 && a.rank() > 2) {
    // b was shared by every batch: its gradient sums over them, one [K, B*M] x [B*M, N] product.
    const int64_t rows = a.element_count() / a.dim(-1);
    absl::StatusOr<Tensor> a2 = a.Reshape({rows, a.dim(-1)});
    absl::StatusOr<Tensor> dy2 = dy.Reshape({rows, dy.dim(-1)});
    if (!a2.ok() || !dy2.ok()) return absl::InvalidArgumentError("MatMulBackward: bad shapes");
    absl::StatusOr<Tensor> db = MatMul(*a2, *dy2, true, false);
    if (!db.ok()) return db.status();
    grads.db = *std::move(db);
  } else {
    absl::StatusOr<Tensor> db = MatMul(a, dy, true, false);
    if (!db.ok()) return db.status();
    grads.db = *std::move(db);
  }
  return grads;
}

absl::StatusOr<Tensor> ScatterAddRows(const Tensor& dy, const std::vector<int32_t>& ids,
                                      int64_t rows) {
  if (absl::Status s = ExpectF32(dy, "ScatterAddRows", "dy", 2); !s.ok()) return s;
  if (dy.rank() != 2 || dy.dim(0) != static_cast<int64_t>(ids.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("ScatterAddRows: ", dy.Describe(), " does not match ", ids.size(), " ids"));
  }
  const int64_t h = dy.dim(1);
  Tensor out = Tensor::Zeros(DType::kF32, {rows, h});
  float* dst = out.data<float>();
  const float* src = dy.data<float>();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("ScatterAddRows: id ", ids[i], " is outside [0, ", rows, ")"));
    }
    float* row = dst + int64_t{ids[i]} * h;
    const float* g = src + static_cast<int64_t>(i) * h;
    for (int64_t j = 0; j < h; ++j) row[j] += g[j];
  }
  return out;
}

absl::StatusOr<Tensor> Relu(const Tensor& x) {
  if (absl::Status s = ExpectF32(x, "Relu", "x"); !s.ok()) return s;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.element_count();
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;
  return out;
}

absl::StatusOr<Tensor> ReluBackward(const Tensor& dy, const Tensor& x) {
  return Elementwise(dy, x, "ReluBackward", [](float g, float v) { return v > 0.0f ? g : 0.0f; });
}

absl::StatusOr<Tensor> Gelu(const Tensor& x) {
  if (absl::Status s = ExpectF32(x, "Gelu", "x"); !s.ok()) return s;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.element_count();
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  const cpu::KernelTable& kernels = cpu::ActiveKernels();
  constexpr int64_t kBlock = 4096;
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    kernels.gelu(dst + begin, std::min(kBlock, n - begin));
  }
  return out;
}

absl::StatusOr<Tensor> GeluBackward(const Tensor& dy, const Tensor& x) {
  if (absl::Status s = ExpectF32(dy, "GeluBackward", "dy"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(x, "GeluBackward", "x"); !s.ok()) return s;
  if (absl::Status s = ExpectSameShape(dy, x, "GeluBackward"); !s.ok()) return s;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const float* g = dy.data<float>();
  const float* v = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.element_count();
  const cpu::KernelTable& kernels = cpu::ActiveKernels();
  constexpr int64_t kBlock = 4096;
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    kernels.gelu_backward(g + begin, v + begin, dst + begin, std::min(kBlock, n - begin));
  }
  return out;
}

absl::StatusOr<Tensor> Tanh(const Tensor& x) {
  if (absl::Status s = ExpectF32(x, "Tanh", "x"); !s.ok()) return s;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.element_count();
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) dst[i] = std::tanh(src[i]);
  return out;
}

absl::StatusOr<Tensor> TanhBackward(const Tensor& dy, const Tensor& y) {
  return Elementwise(dy, y, "TanhBackward", [](float g, float v) { return g * (1.0f - v * v); });
}

absl::StatusOr<LayerNormResult> LayerNormForward(const Tensor& x, const Tensor& gamma,
                                                 const Tensor& beta, float epsilon) {
  constexpr absl::string_view kOp = "LayerNormForward";
  if (absl::Status s = ExpectF32(x, kOp, "x", 1); !s.ok()) return s;
  if (absl::Status s = ExpectF32(gamma, kOp, "gamma", 1); !s.ok()) return s;
  if (absl::Status s = ExpectF32(beta, kOp, "beta", 1); !s.ok()) return s;
  const RowView view = Rows(x);
  const int64_t rows = view.rows, h = view.width;
  if (gamma.shape() != Shape{h} || beta.shape() != Shape{h}) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": gamma ", gamma.Describe(), " and beta ",
                                                   beta.Describe(), " must be [", h, "]"));
  }
  LayerNormResult r{Tensor::Empty(DType::kF32, x.shape()), Tensor::Empty(DType::kF32, {rows}),
                    Tensor::Empty(DType::kF32, {rows})};
#pragma omp parallel for schedule(static) if (rows * h > kParallelElements)
  for (int64_t i = 0; i < rows; ++i) {
    const float* in = x.data<float>() + i * h;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < h; ++j) sum += in[j];
    const double mean = sum / static_cast<double>(h);
    for (int64_t j = 0; j < h; ++j) sq += (in[j] - mean) * (in[j] - mean);
    const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(h) + epsilon);
    float* out = r.y.data<float>() + i * h;
    for (int64_t j = 0; j < h; ++j) {
      out[j] = static_cast<float>((in[j] - mean) * rstd) * gamma.data<float>()[j] +
               beta.data<float>()[j];
    }
    r.mean.data<float>()[i] = static_cast<float>(mean);
    r.rstd.data<float>()[i] = static_cast<float>(rstd);
  }
  return r;
}

absl::StatusOr<LayerNormGrads> LayerNormBackward(const Tensor& dy, const Tensor& x,
                                                 const Tensor& mean, const Tensor& rstd,
                                                 const Tensor& gamma) {
  constexpr absl::string_view kOp = "LayerNormBackward";
  if (absl::Status s = ExpectF32(dy, kOp, "dy", 1); !s.ok()) return s;
  if (absl::Status s = ExpectSameShape(dy, x, kOp); !s.ok()) return s;
  const RowView view = Rows(x);
  const int64_t rows = view.rows, h = view.width;
  if (mean.element_count() != rows || rstd.element_count() != rows || gamma.element_count() != h) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": statistics do not match ", x.Describe()));
  }
  LayerNormGrads g{Tensor::Empty(DType::kF32, x.shape()), Tensor::Empty(DType::kF32, {h}),
                   Tensor::Empty(DType::kF32, {h})};
  // dgamma and dbeta sum over rows: each thread sums a fixed band of rows into its own partial
  // sums, added in thread order afterwards, so the result depends only on the thread count.
  const int teams = rows * h > kParallelElements ? std::max(1, omp_get_max_threads()) : 1;
  std::vector<std::vector<double>> dgamma(static_cast<size_t>(teams),
                                          std::vector<double>(static_cast<size_t>(h), 0.0));
  std::vector<std::vector<double>> dbeta = dgamma;
  const float* w = gamma.data<float>();
#pragma omp parallel num_threads(teams)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    double* dg = dgamma[static_cast<size_t>(t)].data();
    double* db = dbeta[static_cast<size_t>(t)].data();
    for (int64_t i = begin; i < end; ++i) {
      const float* in = x.data<float>() + i * h;
      const float* gy = dy.data<float>() + i * h;
      const double mu = mean.data<float>()[i], rs = rstd.data<float>()[i];
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma.
      double sum_g = 0, sum_gx = 0;
      for (int64_t j = 0; j < h; ++j) {
        const double xhat = (in[j] - mu) * rs;
        const double gj = double{gy[j]} * w[j];
        sum_g += gj;
        sum_gx += gj * xhat;
        dg[j] += gy[j] * xhat;
        db[j] += gy[j];
      }
      const double mean_g = sum_g / static_cast<double>(h);
      const double mean_gx = sum_gx / static_cast<double>(h);
      float* out = g.dx.data<float>() + i * h;
      for (int64_t j = 0; j < h; ++j) {
        const double xhat = (in[j] - mu) * rs;
        out[j] = static_cast<float>(rs * (double{gy[j]} * w[j] - mean_g - xhat * mean_gx));
      }
    }
  }
  for (int64_t j = 0; j < h; ++j) {
    double sum_g = 0, sum_b = 0;
    for (int t = 0; t < teams; ++t) {
      sum_g += dgamma[static_cast<size_t>(t)][static_cast<size_t>(j)];
      sum_b += dbeta[static_cast<size_t>(t)][static_cast<size_t>(j)];
    }
    g.dgamma.data<float>()[j] = static_cast<float>(sum_g);
    g.dbeta.data<float>()[j] = static_cast<float>(sum_b);
  }
  return g;
}

absl::StatusOr<Tensor> Softmax(const Tensor& x) {
  if (absl::Status s = ExpectF32(x, "Softmax", "x", 1); !s.ok()) return s;
  const RowView view = Rows(x);
  const int64_t rows = view.rows, n = view.width;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  if (rows == 0 || n == 0) return out;
  std::memcpy(out.data<float>(), x.data<float>(), static_cast<size_t>(rows * n) * sizeof(float));
  const cpu::KernelTable& kernels = cpu::ActiveKernels();
  const int64_t block = std::max<int64_t>(1, 4096 / n);  // rows per call
  float* y = out.data<float>();
#pragma omp parallel for schedule(static) if (rows * n > kParallelElements)
  for (int64_t begin = 0; begin < rows; begin += block) {
    kernels.softmax_rows(y + begin * n, std::min(block, rows - begin), n);
  }
  return out;
}

absl::StatusOr<Tensor> SoftmaxBackward(const Tensor& dy, const Tensor& y) {
  if (absl::Status s = ExpectF32(dy, "SoftmaxBackward", "dy", 1); !s.ok()) return s;
  if (absl::Status s = ExpectSameShape(dy, y, "SoftmaxBackward"); !s.ok()) return s;
  const RowView view = Rows(y);
  const int64_t rows = view.rows, n = view.width;
  Tensor out = Tensor::Empty(DType::kF32, y.shape());
#pragma omp parallel for schedule(static) if (rows * n > kParallelElements)
  for (int64_t i = 0; i < rows; ++i) {
    const float* g = dy.data<float>() + i * n;
    const float* p = y.data<float>() + i * n;
    double dot = 0;
    for (int64_t j = 0; j < n; ++j) dot += double{g[j]} * p[j];
    float* dx = out.data<float>() + i * n;
    for (int64_t j = 0; j < n; ++j) dx[j] = p[j] * (g[j] - static_cast<float>(dot));
  }
  return out;
}

absl::StatusOr<Tensor> LogSoftmax(const Tensor& x) {
  if (absl::Status s = ExpectF32(x, "LogSoftmax", "x", 1); !s.ok()) return s;
  const RowView view = Rows(x);
  const int64_t rows = view.rows, n = view.width;
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
#pragma omp parallel for schedule(static) if (rows * n > kParallelElements)
  for (int64_t i = 0; i < rows; ++i) {
    const float* in = x.data<float>() + i * n;
    float* y = out.data<float>() + i * n;
    const float max = *std::max_element(in, in + n);
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::exp(double{in[j]} - max);
    const float log_sum = static_cast<float>(std::log(sum)) + max;
    for (int64_t j = 0; j < n; ++j) y[j] = in[j] - log_sum;
  }
  return out;
}

absl::StatusOr<Tensor> LogSoftmaxBackward(const Tensor& dy, const Tensor& y) {
  if (absl::Status s = ExpectF32(dy, "LogSoftmaxBackward", "dy", 1); !s.ok()) return s;
  if (absl::Status s = ExpectSameShape(dy, y, "LogSoftmaxBackward"); !s.ok()) return s;
  const RowView view = Rows(y);
  const int64_t rows = view.rows, n = view.width;
  Tensor out = Tensor::Empty(DType::kF32, y.shape());
#pragma omp parallel for schedule(static) if (rows * n > kParallelElements)
  for (int64_t i = 0; i < rows; ++i) {
    const float* g = dy.data<float>() + i * n;
    const float* lp = y.data<float>() + i * n;
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += g[j];
    float* dx = out.data<float>() + i * n;
    for (int64_t j = 0; j < n; ++j) dx[j] = g[j] - std::exp(lp[j]) * static_cast<float>(sum);
  }
  return out;
}

absl::StatusOr<CrossEntropyResult> CrossEntropy(const Tensor& logits,
                                                const std::vector<int64_t>& targets,
                                                const CrossEntropyOptions& options) {
  constexpr absl::string_view kOp = "CrossEntropy";
  if (absl::Status s = ExpectF32(logits, kOp, "logits", 2); !s.ok()) return s;
  const int64_t rows = logits.dim(0), classes = logits.dim(1);
  if (logits.rank() != 2 || static_cast<int64_t>(targets.size()) != rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": logits ", logits.Describe(), " need [N, C] with N = ", targets.size(), " targets"));
  }
  if (!(options.label_smoothing >= 0.0f && options.label_smoothing <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": label_smoothing ", options.label_smoothing, " is outside [0, 1]"));
  }
  CrossEntropyResult r;
  absl::StatusOr<Tensor> log_prob = LogSoftmax(logits);
  if (!log_prob.ok()) return log_prob.status();
  r.log_prob = *std::move(log_prob);
  double nll = 0, smooth = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = targets[static_cast<size_t>(i)];
    if (t == options.ignore_index) continue;
    if (t < 0 || t >= classes) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": target ", t, " at row ", i, " is outside [0, ", classes, ")"));
    }
    const float* lp = r.log_prob.data<float>() + i * classes;
    nll -= lp[t];
    for (int64_t c = 0; c < classes; ++c) smooth -= lp[c];
    ++r.counted;
  }
  const double eps = options.label_smoothing;
  const double loss = r.counted == 0
                          ? 0.0
                          : ((1.0 - eps) * nll + eps / static_cast<double>(classes) * smooth) /
                                static_cast<double>(r.counted);
  r.loss = Full({}, static_cast<float>(loss));
  return r;
}

absl::StatusOr<Tensor> CrossEntropyBackward(float dloss, const CrossEntropyResult& forward,
                                            const std::vector<int64_t>& targets,
                                            const CrossEntropyOptions& options) {
  const int64_t rows = forward.log_prob.dim(0), classes = forward.log_prob.dim(1);
  if (static_cast<int64_t>(targets.size()) != rows) {
    return absl::InvalidArgumentError("CrossEntropyBackward: targets do not match the forward");
  }
  Tensor out = Tensor::Zeros(DType::kF32, forward.log_prob.shape());
  if (forward.counted == 0) return out;
  // d/dlogit_j = p_j - (1 - s) [j == t] - s / C, scaled by dloss / counted.
  const float scale = dloss / static_cast<float>(forward.counted);
  const float eps = options.label_smoothing;
  const float uniform = eps / static_cast<float>(classes);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = targets[static_cast<size_t>(i)];
    if (t == options.ignore_index) continue;
    const float* lp = forward.log_prob.data<float>() + i * classes;
    float* dx = out.data<float>() + i * classes;
    for (int64_t c = 0; c < classes; ++c) {
      dx[c] = scale * (std::exp(lp[c]) - (c == t ? 1.0f - eps : 0.0f) - uniform);
    }
  }
  return out;
}

}  // namespace trustformers::backends::training
