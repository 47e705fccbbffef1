#include "backends/ops.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/onednn_matmul.h"

namespace trustformers::backends {
namespace {

std::atomic<bool> force_reference{false};

// Up to this many rows, Linear uses the no-packing kernel rather than oneDNN (measured with
// bench/gemm_peak.cc on all-MiniLM's shapes).
constexpr int64_t kFewRows = 32;

const cpu::KernelTable& Kernels() {
  static const cpu::KernelTable* fast = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return avx2 ? cpu::Avx2Kernels() : nullptr;
  }();
  return (fast != nullptr && !force_reference) ? *fast : cpu::ReferenceKernels();
}

}  // namespace

namespace cpu {
const KernelTable& ActiveKernels() { return Kernels(); }
}  // namespace cpu

namespace {

absl::Status Expect(bool ok, absl::string_view op, absl::string_view what) {
  return ok ? absl::OkStatus() : absl::InvalidArgumentError(absl::StrCat(op, ": ", what));
}

absl::Status ExpectF32(const Tensor& t, int rank, absl::string_view op, absl::string_view name) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " is missing"));
  if (t.dtype() != DType::kF32 || t.rank() != rank || !t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " must be a contiguous F32 ",
                                                   "tensor of rank ", rank, ", got ",
                                                   t.Describe()));
  }
  return absl::OkStatus();
}

absl::Status ExpectOffsets(const SequenceOffsets& offsets, int64_t rows, absl::string_view op) {
  bool ok = offsets.size() >= 2 && offsets.front() == 0 && offsets.back() == rows;
  for (size_t i = 1; ok && i < offsets.size(); ++i) ok = offsets[i] >= offsets[i - 1];
  return Expect(ok, op, absl::StrCat("sequence offsets must rise from 0 to the row count ", rows));
}

// Rows split across the OpenMP team; each thread gets a contiguous block.
template <typename Fn>
void ParallelRows(int64_t rows, int64_t min_rows_per_thread, Fn fn) {
  const int threads = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), rows / min_rows_per_thread)));
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t n = omp_get_num_threads();
    const int64_t begin = rows * t / n;
    const int64_t end = rows * (t + 1) / n;
    if (end > begin) fn(begin, end);
  }
}

}  // namespace

const char* ActiveCpuKernels() { return Kernels().name; }
void UseReferenceCpuKernels(bool reference) { force_reference = reference; }

absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  constexpr absl::string_view kOp = "Linear";
  if (absl::Status s = ExpectF32(x, 2, kOp, "input"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(weight, 2, kOp, "weight"); !s.ok()) return s;
  const int64_t m = x.dim(0), k = x.dim(1), n = weight.dim(0);
  if (weight.dim(1) != k) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": input ", x.Describe(), " does not match weight ", weight.Describe()));
  }
  if (bias.defined()) {
    if (absl::Status s = ExpectF32(bias, 1, kOp, "bias"); !s.ok()) return s;
    if (bias.dim(0) != n) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": bias ", bias.Describe(),
                                                     " does not match weight ", weight.Describe()));
    }
  }
  Tensor y = Tensor::Empty(DType::kF32, {m, n});
  if (m <= kFewRows) {
    // A few rows (one short input, a pooled batch): oneDNN would spend longer packing the
    // weights than multiplying; read them once in place instead.
    const cpu::KernelTable& kernels = Kernels();
    const float* b = bias.defined() ? bias.data<float>() : nullptr;
    ParallelRows(n, 64, [&](int64_t begin, int64_t end) {
      kernels.linear_few_rows(x.data<float>(), m, k, weight.data<float>(), b, n, begin, end,
                              y.data<float>());
    });
    return y;
  }
  absl::Status status =
      cpu::OneDnnLinear(x.data<float>(), m, k, weight.data<float>(), n,
                        bias.defined() ? bias.data<float>() : nullptr, y.data<float>());
  if (!status.ok()) return status;
  return y;
}

absl::StatusOr<Tensor> PrepareLinearWeight(const Tensor& weight) {
  if (absl::Status s = ExpectF32(weight, 2, "PrepareLinearWeight", "weight"); !s.ok()) return s;
  const int64_t n = weight.dim(0), k = weight.dim(1);
  Tensor kn = Tensor::Empty(DType::kF32, {k, n});
  const float* src = weight.data<float>();
  float* dst = kn.data<float>();
  constexpr int64_t kTile = 32;  // cache-sized tiles: both matrices are read or written in rows
  for (int64_t r0 = 0; r0 < n; r0 += kTile) {
    for (int64_t c0 = 0; c0 < k; c0 += kTile) {
      for (int64_t r = r0; r < std::min(n, r0 + kTile); ++r) {
        for (int64_t c = c0; c < std::min(k, c0 + kTile); ++c) dst[c * n + r] = src[r * k + c];
      }
    }
  }
  return kn;
}

absl::StatusOr<Tensor> LinearKN(const Tensor& x, const Tensor& w_kn, const Tensor& bias) {
  constexpr absl::string_view kOp = "LinearKN";
  if (absl::Status s = ExpectF32(x, 2, kOp, "input"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(w_kn, 2, kOp, "weight"); !s.ok()) return s;
  const int64_t m = x.dim(0), k = x.dim(1), n = w_kn.dim(1);
  if (w_kn.dim(0) != k) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": input ", x.Describe(), " does not match weight ", w_kn.Describe()));
  }
  if (bias.defined()) {
    if (absl::Status s = ExpectF32(bias, 1, kOp, "bias"); !s.ok()) return s;
    if (bias.dim(0) != n) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": bias ", bias.Describe(),
                                                     " does not match weight ", w_kn.Describe()));
    }
  }
  Tensor y = Tensor::Empty(DType::kF32, {m, n});
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  if (m <= kFewRows) {
    const cpu::KernelTable& kernels = Kernels();
    // Column blocks of 16 per thread keep the vector loop whole.
    ParallelRows((n + 15) / 16, 4, [&](int64_t begin, int64_t end) {
      kernels.linear_few_rows_kn(x.data<float>(), m, k, w_kn.data<float>(), b, n, begin * 16,
                                 std::min(n, end * 16), y.data<float>());
    });
    return y;
  }
  absl::Status status = cpu::OneDnnLinear(x.data<float>(), m, k, w_kn.data<float>(), n, b,
                                          y.data<float>(), cpu::WeightLayout::kKN);
  if (!status.ok()) return status;
  return y;
}

absl::StatusOr<Tensor> Gather(const Tensor& table, const std::vector<int32_t>& ids) {
  if (absl::Status s = ExpectF32(table, 2, "Gather", "table"); !s.ok()) return s;
  const int64_t vocab = table.dim(0), h = table.dim(1);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("Gather: id ", ids[i], " at position ", i, " is outside [0, ", vocab, ")"));
    }
  }
  Tensor out = Tensor::Empty(DType::kF32, {static_cast<int64_t>(ids.size()), h});
  const float* src = table.data<float>();
  float* dst = out.data<float>();
  for (size_t i = 0; i < ids.size(); ++i) {
    std::memcpy(dst + static_cast<int64_t>(i) * h, src + int64_t{ids[i]} * h,
                static_cast<size_t>(h) * sizeof(float));
  }
  return out;
}

absl::Status AddInPlace(Tensor& y, const Tensor& x) {
  if (absl::Status s =
          Expect(y.writable() && y.is_contiguous() && x.is_contiguous() &&
                     y.dtype() == DType::kF32 && x.dtype() == DType::kF32 && y.shape() == x.shape(),
                 "AddInPlace", absl::StrCat(y.Describe(), " += ", x.Describe()));
      !s.ok()) {
    return s;
  }
  float* out = y.data<float>();
  const float* in = x.data<float>();
  const int64_t n = y.element_count();
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) out[i] += in[i];
  return absl::OkStatus();
}

absl::StatusOr<Tensor> LayerNorm(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                 const Tensor& beta, float epsilon) {
  constexpr absl::string_view kOp = "LayerNorm";
  if (absl::Status s = ExpectF32(x, 2, kOp, "input"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(gamma, 1, kOp, "gamma"); !s.ok()) return s;
  if (absl::Status s = ExpectF32(beta, 1, kOp, "beta"); !s.ok()) return s;
  const int64_t rows = x.dim(0), h = x.dim(1);
  if (absl::Status s = Expect(gamma.dim(0) == h && beta.dim(0) == h && h > 0, kOp,
                              absl::StrCat("gamma ", gamma.Describe(), " and beta ",
                                           beta.Describe(), " must match ", x.Describe()));
      !s.ok()) {
    return s;
  }
  if (residual.defined()) {
    if (absl::Status s = ExpectF32(residual, 2, kOp, "residual"); !s.ok()) return s;
    if (residual.shape() != x.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": residual ", residual.Describe(), " does not match ", x.Describe()));
    }
  }
  Tensor out = Tensor::Empty(DType::kF32, x.shape());
  const cpu::KernelTable& k = Kernels();
  const float* xs = x.data<float>();
  const float* rs = residual.defined() ? residual.data<float>() : nullptr;
  float* os = out.data<float>();
  ParallelRows(rows, 16, [&](int64_t begin, int64_t end) {
    k.layer_norm(xs + begin * h, rs != nullptr ? rs + begin * h : nullptr, gamma.data<float>(),
                 beta.data<float>(), epsilon, end - begin, h, os + begin * h);
  });
  return out;
}

namespace {

absl::Status Elementwise(Tensor& x, absl::string_view op, void (*kernel)(float*, int64_t)) {
  if (absl::Status s =
          Expect(x.writable() && x.is_contiguous() && x.dtype() == DType::kF32, op,
                 absl::StrCat("needs a writable contiguous F32 tensor, got ", x.Describe()));
      !s.ok()) {
    return s;
  }
  float* data = x.data<float>();
  ParallelRows(x.element_count(), 4096,
               [&](int64_t begin, int64_t end) { kernel(data + begin, end - begin); });
  return absl::OkStatus();
}

}  // namespace

absl::Status GeluInPlace(Tensor& x) { return Elementwise(x, "Gelu", Kernels().gelu); }
absl::Status TanhInPlace(Tensor& x) { return Elementwise(x, "Tanh", Kernels().tanh); }
absl::Status SigmoidInPlace(Tensor& x) { return Elementwise(x, "Sigmoid", Kernels().sigmoid); }

absl::Status SoftmaxRowsInPlace(Tensor& x) {
  if (absl::Status s = ExpectF32(x, 2, "Softmax", "input"); !s.ok()) return s;
  if (!x.writable() || x.dim(1) == 0) {
    return absl::InvalidArgumentError("Softmax: needs a writable tensor with non-empty rows");
  }
  const int64_t n = x.dim(1);
  float* data = x.data<float>();
  const cpu::KernelTable& k = Kernels();
  ParallelRows(x.dim(0), 8, [&](int64_t begin, int64_t end) {
    k.softmax_rows(data + begin * n, end - begin, n);
  });
  return absl::OkStatus();
}

absl::StatusOr<Tensor> PackedSelfAttention(const Tensor& qkv, int heads,
                                           const SequenceOffsets& offsets) {
  constexpr absl::string_view kOp = "PackedSelfAttention";
  if (absl::Status s = ExpectF32(qkv, 2, kOp, "qkv"); !s.ok()) return s;
  const int64_t rows = qkv.dim(0), width = qkv.dim(1);
  if (heads <= 0 || width % (3 * int64_t{heads}) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": qkv ", qkv.Describe(), " is not 3 x ", heads, " heads wide"));
  }
  if (absl::Status s = ExpectOffsets(offsets, rows, kOp); !s.ok()) return s;
  const int64_t hidden = width / 3, head_dim = hidden / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  Tensor out = Tensor::Empty(DType::kF32, {rows, hidden});
  const float* base = qkv.data<float>();
  float* o = out.data<float>();
  const int64_t sequences = static_cast<int64_t>(offsets.size()) - 1;
  int64_t longest = 0;
  for (int64_t s = 0; s < sequences; ++s) longest = std::max(longest, offsets[s + 1] - offsets[s]);
  const cpu::KernelTable& k = Kernels();
  const int64_t tasks = sequences * heads;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(std::max<int64_t>(longest, 1)));
    // Dynamic: sequences differ in length, and attention cost grows with its square.
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t s = task / heads, h = task % heads;
      const int64_t start = offsets[s], len = offsets[s + 1] - start;
      if (len == 0) continue;
      const float* q = base + start * width + h * head_dim;
      k.attention_head(q, q + hidden, q + 2 * hidden, width, len, head_dim, scale,
                       o + start * hidden + h * head_dim, hidden, scores.data());
    }
  }
  return out;
}

absl::StatusOr<Tensor> Pool(const Tensor& x, const SequenceOffsets& offsets, PoolingMode mode) {
  if (absl::Status s = ExpectF32(x, 2, "Pool", "input"); !s.ok()) return s;
  if (absl::Status s = ExpectOffsets(offsets, x.dim(0), "Pool"); !s.ok()) return s;
  const int64_t h = x.dim(1), batch = static_cast<int64_t>(offsets.size()) - 1;
  for (int64_t b = 0; b < batch; ++b) {
    if (offsets[b + 1] == offsets[b]) {
      return absl::InvalidArgumentError(absl::StrCat("Pool: sequence ", b, " is empty"));
    }
  }
  Tensor out = Tensor::Zeros(DType::kF32, {batch, h});
  const float* in = x.data<float>();
  float* o = out.data<float>();
  for (int64_t b = 0; b < batch; ++b) {
    float* row = o + b * h;
    const int64_t begin = offsets[b], end = offsets[b + 1];
    if (mode == PoolingMode::kFirst || mode == PoolingMode::kLast) {
      const int64_t t = mode == PoolingMode::kFirst ? begin : end - 1;
      std::memcpy(row, in + t * h, static_cast<size_t>(h) * sizeof(float));
    } else if (mode == PoolingMode::kMax) {
      std::memcpy(row, in + begin * h, static_cast<size_t>(h) * sizeof(float));
      for (int64_t t = begin + 1; t < end; ++t) {
        for (int64_t i = 0; i < h; ++i) row[i] = std::max(row[i], in[t * h + i]);
      }
    } else {
      for (int64_t t = begin; t < end; ++t) {
        for (int64_t i = 0; i < h; ++i) row[i] += in[t * h + i];
      }
      const float inv = 1.0f / static_cast<float>(end - begin);
      for (int64_t i = 0; i < h; ++i) row[i] *= inv;
    }
  }
  return out;
}

absl::Status L2NormalizeRowsInPlace(Tensor& x) {
  if (absl::Status s = ExpectF32(x, 2, "L2Normalize", "input"); !s.ok()) return s;
  if (!x.writable()) return absl::InvalidArgumentError("L2Normalize: tensor is read-only");
  Kernels().l2_normalize_rows(x.data<float>(), x.dim(0), x.dim(1));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> ConcatRows(const std::vector<Tensor>& parts) {
  if (parts.empty()) return absl::InvalidArgumentError("ConcatRows: nothing to concatenate");
  Shape shape = parts[0].shape();
  int64_t rows = 0;
  for (const Tensor& part : parts) {
    if (absl::Status s = ExpectF32(part, parts[0].rank(), "ConcatRows", "part"); !s.ok()) return s;
    if (!std::equal(part.shape().begin() + 1, part.shape().end(), shape.begin() + 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ConcatRows: ", part.Describe(), " does not match ", parts[0].Describe()));
    }
    rows += part.dim(0);
  }
  shape[0] = rows;
  Tensor out = Tensor::Empty(DType::kF32, shape);
  char* dst = reinterpret_cast<char*>(out.data<float>());
  for (const Tensor& part : parts) {
    std::memcpy(dst, part.data<float>(), part.byte_size());
    dst += part.byte_size();
  }
  return out;
}

namespace {
// Taken before main, on the main thread: every thread's default.
const int kProcessThreads = omp_get_max_threads();
std::atomic<int> reserved_threads{0};
}  // namespace

CpuReservation::CpuReservation(int threads) : threads_(std::max(threads, 0)) {
  reserved_threads += threads_;
}
CpuReservation::~CpuReservation() { reserved_threads -= threads_; }

int InferenceCpuThreads() { return std::max(1, kProcessThreads - reserved_threads.load()); }

void SetCpuThreads(int threads) { omp_set_num_threads(std::max(threads, 1)); }
int CpuThreads() { return omp_get_max_threads(); }

}  // namespace trustformers::backends
