#include "backends/cpu/decoder_ops.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "backends/cpu/decoder_kernels.h"
#include "backends/cpu/exp_polynomial.h"
#include "backends/tensor.h"

namespace trustformers::backends::cpu {
namespace {

// Every f16 value as a float: 256 KiB, built once, cheaper than converting in the inner loops.
const float* HalfTable() {
  static const std::unique_ptr<float[]> table = [] {
    auto t = std::make_unique<float[]>(1 << 16);
    for (uint32_t i = 0; i < (1u << 16); ++i) t[i] = HalfToFloat(static_cast<uint16_t>(i));
    return t;
  }();
  return table.get();
}

float RoundToHalf(float x) { return HalfToFloat(FloatToHalf(x)); }

// The sums follow ggml's AVX-512 lanes: kLanes partial sums reduced pairwise (l with l + 8, then
// l + 4, l + 2, l + 1).
constexpr int64_t kLanes = 16;

float LaneTree(float* lanes) {
  for (int64_t width = kLanes / 2; width >= 1; width /= 2) {
    for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0];
}

// Partial sums of one output in either order: kOneRow keeps four groups of lanes, each taking 16
// of every 64 terms, reduced as (0 + 2) + (1 + 3) before the lane tree; kManyRows one group.
class OrderedSum {
 public:
  explicit OrderedSum(AttentionOrder order) : groups_(order == AttentionOrder::kOneRow ? 4 : 1) {}
  // Adds a * b as term i (terms of one lane must arrive in increasing i).
  void Add(int64_t i, float a, float b) {
    float& lane = lanes_[(i / kLanes) % groups_][i % kLanes];
    lane = std::fma(a, b, lane);
  }
  float Total() {
    if (groups_ == 4) {
      for (int64_t l = 0; l < kLanes; ++l) {
        lanes_[0][l] = (lanes_[0][l] + lanes_[2][l]) + (lanes_[1][l] + lanes_[3][l]);
      }
    }
    return LaneTree(lanes_[0]);
  }

 private:
  int64_t groups_;
  float lanes_[4][kLanes] = {};
};

// A key row times the f16-rounded query. The one-row kernel sums whole groups of 64 and adds the
// rest in double; the many-row kernel needs a multiple of 16 (ggml falls back to the one-row
// kernel otherwise).
float KeyDot(const float* q16, const uint16_t* k, int64_t n, AttentionOrder order) {
  const float* half = HalfTable();
  if (n % kLanes != 0) order = AttentionOrder::kOneRow;
  const int64_t grouped = order == AttentionOrder::kOneRow ? n - n % (4 * kLanes) : n;
  OrderedSum sum(order);
  for (int64_t d = 0; d < grouped; ++d) sum.Add(d, half[k[d]], q16[d]);
  double total = sum.Total();
  for (int64_t d = grouped; d < n; ++d) total += static_cast<double>(half[k[d]] * q16[d]);
  return static_cast<float>(total);
}

// The scalar kernel: the oracle of the AVX2 one and the fallback.
void AttendReference(const float* q, const uint16_t* const* k_rows, const uint16_t* const* v_rows,
                     int64_t offset, int64_t visible, int64_t head_dim, float scale,
                     AttentionOrder order, float* scratch, float* out) {
  const float* half = HalfTable();
  float* q16 = scratch;
  float* probs = scratch + head_dim;
  for (int64_t d = 0; d < head_dim; ++d) q16[d] = RoundToHalf(q[d]);
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < visible; ++s) {
    probs[s] = KeyDot(q16, k_rows[s] + offset, head_dim, order) * scale;
    max_score = std::max(max_score, probs[s]);
  }
  double sum = 0;
  for (int64_t first = 0; first < visible; first += kLanes) {
    float lanes[kLanes] = {};
    for (int64_t l = 0; l < kLanes && first + l < visible; ++l) {
      lanes[l] = probs[first + l] = exp_polynomial::Exp(probs[first + l] - max_score);
    }
    sum += LaneTree(lanes);
  }
  const auto inverse = static_cast<float>(1.0 / sum);
  for (int64_t s = 0; s < visible; ++s) probs[s] = RoundToHalf(probs[s] * inverse);
  for (int64_t d = 0; d < head_dim; ++d) {
    OrderedSum total(order);
    for (int64_t s = 0; s < visible; ++s) total.Add(s, half[v_rows[s][offset + d]], probs[s]);
    out[d] = total.Total();
  }
}

// ggml_vec_swiglu's split: the polynomial exp on whole groups of 16, libm on the rest.
void SwiGluReference(float* gate, const float* up, int64_t n) {
  const int64_t grouped = n - n % kLanes;
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = (i < grouped ? exp_polynomial::Silu(g) : g / (1.0f + std::exp(-g))) * up[i];
  }
}

std::atomic<bool> force_reference{false};

bool HasAvx2() {
  static const bool ok = [] {
    __builtin_cpu_init();
    // Every CPU with AVX2 also has F16C (it came a generation earlier on both Intel and AMD).
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

AttendFn AttendFor(int64_t head_dim) {
  static const AttendFn fast = HasAvx2() ? Avx2Attend() : nullptr;
  return fast != nullptr && head_dim % 8 == 0 && !force_reference ? fast : AttendReference;
}

SwiGluFn SwiGluKernel() {
  static const SwiGluFn fast = HasAvx2() ? Avx2SwiGlu() : nullptr;
  return fast != nullptr && !force_reference ? fast : SwiGluReference;
}

}  // namespace

int64_t AttendScratchFloats(int64_t visible, int64_t head_dim) {
  // The rounded query, the probabilities padded to whole groups of lanes, and the AVX2 kernel's
  // lane sums of 64 outputs (two groups' worth).
  return head_dim + (visible + kLanes - 1) / kLanes * kLanes + kLanes * 2 * 64;
}

void UseReferenceDecoderKernels(bool reference) { force_reference = reference; }

void RmsNorm(const float* x, const float* weight, float epsilon, int64_t rows, int64_t n,
             float* out) {
#pragma omp parallel for schedule(static) if (rows * n > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = out + r * n;
    double sum = 0;  // ggml sums the squares in double
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + epsilon);
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * weight[i];
  }
}

std::vector<float> RopeAngles(const int32_t* positions, int64_t rows, const RopeParams& params) {
  const int64_t pairs = params.rotary_dims / 2;
  const float theta_scale =
      std::pow(params.freq_base, -2.0f / static_cast<float>(params.rotary_dims));
  std::vector<float> cos_sin(static_cast<size_t>(rows * 2 * pairs));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = cos_sin.data() + r * 2 * pairs;
    // The angle of pair i is position * base^(-2i/d), stepped by repeated multiplication.
    float theta = static_cast<float>(positions[r]);
    for (int64_t i = 0; i < pairs; ++i) {
      const float factor = params.freq_factors.empty() ? 1.0f : params.freq_factors[i];
      const float angle = params.freq_scale * (theta / factor);
      sincosf(angle, &row[2 * i + 1], &row[2 * i]);
      theta *= theta_scale;
    }
  }
  return cos_sin;
}

void Rope(float* x, int64_t rows, int64_t stride, int64_t heads, int64_t head_dim,
          const float* angles, const RopeParams& params) {
  static const RopeFn fast = HasAvx2() ? Avx2Rope() : nullptr;
  const bool interleaved = params.style == RopeStyle::kInterleaved;
  if (fast != nullptr && !force_reference) {
    return fast(x, rows, stride, heads, head_dim, angles, params.rotary_dims, interleaved);
  }
  const int64_t pairs = params.rotary_dims / 2;
#pragma omp parallel for schedule(static) if (rows * heads * pairs > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* cos_sin = angles + r * 2 * pairs;
    float* row = x + r * stride;
    for (int64_t h = 0; h < heads; ++h) {
      float* head = row + h * head_dim;
      for (int64_t i = 0; i < pairs; ++i) {
        const int64_t a = interleaved ? 2 * i : i;
        const int64_t b = interleaved ? 2 * i + 1 : i + pairs;
        const float x0 = head[a], x1 = head[b];
        const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
        // One product of each pair fused, as ggml's compiled kernel does.
        head[a] = std::fma(x0, c, -(x1 * s));
        head[b] = std::fma(x0, s, x1 * c);
      }
    }
  }
}

void FloatsToHalves(const float* x, int64_t n, uint16_t* out) {
  static const FloatsToHalvesFn fast = HasAvx2() ? Avx2FloatsToHalves() : nullptr;
  if (fast != nullptr && !force_reference) return fast(x, n, out);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToHalf(x[i]);
}

namespace {

// The (sequence, query row, head) items of a batch, numbered consecutively across sequences so one
// parallel loop covers every sequence's attention.
template <class T>
class AttentionItems {
 public:
  AttentionItems(std::span<const AttentionSequence<T>> sequences, int64_t heads)
      : sequences_(sequences), heads_(heads) {
    int64_t total = 0;
    for (const AttentionSequence<T>& s : sequences) {
      starts_.push_back(total);
      total += s.rows * heads;
      longest_ = std::max(longest_, s.first_position + s.rows);
      work_ += s.rows * heads * (s.first_position + s.rows);
    }
    count_ = total;
  }
  int64_t count() const { return count_; }
  int64_t longest() const { return longest_; }
  // Multiply-adds of the whole batch, per head_dim.
  int64_t work() const { return work_; }

  struct Item {
    const AttentionSequence<T>* sequence;
    int64_t row;
    int64_t head;
  };
  Item operator[](int64_t item) const {
    const size_t s = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), item) -
                                         starts_.begin() - 1);
    const int64_t local = item - starts_[s];
    return {&sequences_[s], local / heads_, local % heads_};
  }

 private:
  std::span<const AttentionSequence<T>> sequences_;
  int64_t heads_;
  std::vector<int64_t> starts_;
  int64_t count_ = 0;
  int64_t longest_ = 0;
  int64_t work_ = 0;
};

}  // namespace

void CausalAttentionF16(std::span<const AttentionSequence<uint16_t>> sequences, int64_t heads,
                        int64_t kv_heads, int64_t head_dim, float scale) {
  const AttendFn attend = AttendFor(head_dim);
  const int64_t group = heads / kv_heads;
  const AttentionItems<uint16_t> items(sequences, heads);
#pragma omp parallel if (items.work() * head_dim > (1 << 12))
  {
    std::vector<float> scratch(static_cast<size_t>(AttendScratchFloats(items.longest(), head_dim)));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < items.count(); ++i) {
      const auto [s, r, h] = items[i];
      attend(s->q + r * s->q_stride + h * head_dim, s->key_rows, s->value_rows,
             (h / group) * head_dim, s->first_position + r + 1, head_dim, scale,
             s->first_position + r < s->prompt_order_until ? AttentionOrder::kManyRows
                                                           : AttentionOrder::kOneRow,
             scratch.data(), s->out + r * s->out_stride + h * head_dim);
    }
  }
}

void CausalAttentionF32(std::span<const AttentionSequence<float>> sequences, int64_t heads,
                        int64_t kv_heads, int64_t head_dim, float scale) {
  const int64_t group = heads / kv_heads;
  const AttentionItems<float> items(sequences, heads);
#pragma omp parallel if (items.work() * head_dim > (1 << 15))
  {
    std::vector<double> scores(static_cast<size_t>(items.longest()));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < items.count(); ++i) {
      const auto [s, r, h] = items[i];
      const int64_t offset = (h / group) * head_dim;
      const int64_t visible = s->first_position + r + 1;
      const float* qh = s->q + r * s->q_stride + h * head_dim;
      double max_score = -std::numeric_limits<double>::infinity();
      for (int64_t p = 0; p < visible; ++p) {
        const float* ks = s->key_rows[p] + offset;
        double dot = 0;
        for (int64_t d = 0; d < head_dim; ++d) dot += double{qh[d]} * ks[d];
        scores[p] = dot * scale;
        max_score = std::max(max_score, scores[p]);
      }
      double sum = 0;
      for (int64_t p = 0; p < visible; ++p) sum += (scores[p] = std::exp(scores[p] - max_score));
      float* oh = s->out + r * s->out_stride + h * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) {
        double acc = 0;
        for (int64_t p = 0; p < visible; ++p) acc += scores[p] * s->value_rows[p][offset + d];
        oh[d] = static_cast<float>(acc / sum);
      }
    }
  }
}

void GeluTanh(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void AddTo(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void SwiGlu(float* gate, const float* up, int64_t n) { SwiGluKernel()(gate, up, n); }

}  // namespace trustformers::backends::cpu
