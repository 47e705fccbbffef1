#include "backends/cpu/quant/quant_matmul.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/quant/quant_kernels.h"

namespace trustformers::backends::cpu {
namespace {

// The kernel tables this CPU runs, best first (the scalar one always last).
const std::vector<const QuantKernelTable*>& Available() {
  static const std::vector<const QuantKernelTable*> tables = [] {
    std::vector<const QuantKernelTable*> t;
    __builtin_cpu_init();
    // Every CPU with AVX2 also has F16C (it came a generation earlier on both Intel and AMD).
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
        t.push_back(Avx512VnniQuantKernels());
      }
      t.push_back(Avx2QuantKernels());
    }
    t.push_back(&ReferenceQuantKernels());
    return t;
  }();
  return tables;
}

std::atomic<const QuantKernelTable*> forced{nullptr};

const QuantKernelTable& Kernels() {
  const QuantKernelTable* table = forced.load(std::memory_order_relaxed);
  return table != nullptr ? *table : *Available().front();
}

QuantDotFn DotFor(const QuantKernelTable& t, GgmlBlockType type) {
  switch (type) {
    case GgmlBlockType::kF32:
      return t.dot_f32;
    case GgmlBlockType::kF16:
      return t.dot_f16;
    case GgmlBlockType::kBF16:
      return t.dot_bf16;
    case GgmlBlockType::kQ4_0:
      return t.dot_q4_0;
    case GgmlBlockType::kQ4_1:
      return t.dot_q4_1;
    case GgmlBlockType::kQ8_0:
      return t.dot_q8_0;
    case GgmlBlockType::kQ4_K:
      return t.dot_q4_k;
    case GgmlBlockType::kQ5_K:
      return t.dot_q5_k;
    case GgmlBlockType::kQ6_K:
      return t.dot_q6_k;
    default:
      return nullptr;
  }
}

// Weight rows per unit of work: small enough that the rows of a unit and a tile of activations
// sit in L1 together, large enough to amortise the scheduling.
constexpr int64_t kRowsPerUnit = 16;

}  // namespace

absl::Status CheckQuantMatrix(const QuantMatrix& w) {
  if (!CanQuantMatmul(w.type)) {
    const absl::string_view name = GgmlBlockTypeName(w.type);
    return absl::InvalidArgumentError(absl::StrCat(
        "quantized matmul: unsupported weight type ",
        name.empty() ? absl::StrCat(static_cast<uint32_t>(w.type)) : std::string(name)));
  }
  const int64_t block = std::max(BlockSize(w.type), ActivationBlockSize(w.activation_format()));
  if (w.rows <= 0 || w.cols <= 0 || w.cols % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantized matmul: a ", GgmlBlockTypeName(w.type), " matrix of ", w.rows,
                     " x ", w.cols, " needs rows of a multiple of ", block));
  }
  if (w.data == nullptr) return absl::InvalidArgumentError("quantized matmul: no weight data");
  return absl::OkStatus();
}

absl::Status QuantizeActivations(const float* x, int64_t m, int64_t k, int64_t ldx,
                                 ActivationFormat format, std::vector<uint8_t>* out) {
  const int64_t block = ActivationBlockSize(format);
  if (m < 0 || k <= 0 || k % block != 0 || ldx < k) {
    return absl::InvalidArgumentError(absl::StrCat("quantize activations: ", m, " rows of ", k,
                                                   " (stride ", ldx, ") in blocks of ", block));
  }
  const int64_t row_bytes = ActivationRowBytes(format, k);
  out->resize(static_cast<size_t>(m * row_bytes));
  if (format == ActivationFormat::kF32) {
    for (int64_t i = 0; i < m; ++i) {
      std::memcpy(out->data() + i * row_bytes, x + i * ldx, static_cast<size_t>(row_bytes));
    }
    return absl::OkStatus();
  }
  const QuantKernelTable& t = Kernels();
  const QuantizeRowFn quantize = format == ActivationFormat::kQ8_0   ? t.quantize_q8_0
                                 : format == ActivationFormat::kQ8_1 ? t.quantize_q8_1
                                                                     : t.quantize_q8_k;
  uint8_t* dst = out->data();
#pragma omp parallel for schedule(static) if (m * k > (1 << 15))
  for (int64_t i = 0; i < m; ++i) quantize(x + i * ldx, k, dst + i * row_bytes);
  return absl::OkStatus();
}

absl::Status QuantMatmul(const QuantMatrix& w, const std::vector<uint8_t>& activations, int64_t m,
                         float* y, int64_t ldy) {
  if (absl::Status s = CheckQuantMatrix(w); !s.ok()) return s;
  const int64_t a_row = ActivationRowBytes(w.activation_format(), w.cols);
  if (m < 0 || static_cast<int64_t>(activations.size()) != m * a_row || ldy < w.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantized matmul: ", activations.size(), " bytes of activations for ", m,
                     " rows of ", w.cols, ", output stride ", ldy, " for ", w.rows, " columns"));
  }
  if (m == 0) return absl::OkStatus();
  const QuantDotFn dot = DotFor(Kernels(), w.type);
  const int64_t w_row = w.row_bytes();
  const int64_t units = (w.rows + kRowsPerUnit - 1) / kRowsPerUnit;
  const uint8_t* a = activations.data();
  // Decoding (small m) is bound by reading the weights: every thread takes a share of them.
#pragma omp parallel for schedule(static) if (units > 1 && m * w.rows * w.cols > (1 << 16))
  for (int64_t unit = 0; unit < units; ++unit) {
    const int64_t n_begin = unit * kRowsPerUnit;
    const int64_t n_end = std::min(w.rows, n_begin + kRowsPerUnit);
    for (int64_t i = 0; i < m; i += kQuantTileRows) {
      const int tile = static_cast<int>(std::min<int64_t>(kQuantTileRows, m - i));
      for (int64_t n = n_begin; n < n_end; ++n) {
        dot(w.data + n * w_row, a + i * a_row, a_row, tile, w.cols, y + i * ldy + n, ldy);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status QuantMatmulMany(std::span<const QuantProduct> products,
                             const std::vector<uint8_t>& activations, int64_t m) {
  if (products.empty()) return absl::OkStatus();
  const ActivationFormat format = products[0].w->activation_format();
  const int64_t cols = products[0].w->cols;
  // Units of kRowsPerUnit weight rows, numbered across the products in order.
  std::vector<int64_t> first_unit(products.size() + 1, 0);
  for (size_t p = 0; p < products.size(); ++p) {
    const QuantProduct& product = products[p];
    if (absl::Status s = CheckQuantMatrix(*product.w); !s.ok()) return s;
    if (product.w->activation_format() != format || product.w->cols != cols ||
        product.ldy < product.w->rows) {
      return absl::InvalidArgumentError(
          "quantized matmul: products sharing activations need the same input width and format");
    }
    first_unit[p + 1] = first_unit[p] + (product.w->rows + kRowsPerUnit - 1) / kRowsPerUnit;
  }
  const int64_t a_row = ActivationRowBytes(format, cols);
  if (m < 0 || static_cast<int64_t>(activations.size()) != m * a_row) {
    return absl::InvalidArgumentError(absl::StrCat("quantized matmul: ", activations.size(),
                                                   " bytes of activations for ", m, " rows"));
  }
  if (m == 0) return absl::OkStatus();
  const QuantKernelTable& table = Kernels();
  const int64_t units = first_unit.back();
  const uint8_t* a = activations.data();
#pragma omp parallel for schedule(static) if (units > 1 && \
                                              m * units * kRowsPerUnit * cols > (1 << 16))
  for (int64_t unit = 0; unit < units; ++unit) {
    size_t p = 0;
    while (first_unit[p + 1] <= unit) ++p;
    const QuantProduct& product = products[p];
    const QuantMatrix& w = *product.w;
    const QuantDotFn dot = DotFor(table, w.type);
    const int64_t w_row = w.row_bytes();
    const int64_t n_begin = (unit - first_unit[p]) * kRowsPerUnit;
    const int64_t n_end = std::min(w.rows, n_begin + kRowsPerUnit);
    for (int64_t i = 0; i < m; i += kQuantTileRows) {
      const int tile = static_cast<int>(std::min<int64_t>(kQuantTileRows, m - i));
      for (int64_t n = n_begin; n < n_end; ++n) {
        dot(w.data + n * w_row, a + i * a_row, a_row, tile, w.cols, product.y + i * product.ldy + n,
            product.ldy);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status QuantLinear(const float* x, int64_t m, int64_t ldx, const QuantMatrix& w, float* y,
                         int64_t ldy, std::vector<uint8_t>* scratch) {
  if (absl::Status s = CheckQuantMatrix(w); !s.ok()) return s;
  if (absl::Status s = QuantizeActivations(x, m, w.cols, ldx, w.activation_format(), scratch);
      !s.ok()) {
    return s;
  }
  return QuantMatmul(w, *scratch, m, y, ldy);
}

const char* ActiveQuantKernels() { return Kernels().name; }

bool UseQuantKernels(std::string_view name) {
  if (name.empty()) {
    forced = nullptr;
    return true;
  }
  for (const QuantKernelTable* table : Available()) {
    if (table->name == name) {
      forced = table;
      return true;
    }
  }
  return false;
}

void UseReferenceQuantKernels(bool reference) { UseQuantKernels(reference ? "reference" : ""); }

}  // namespace trustformers::backends::cpu
