// Scalar quantized dot products: each block's integer sum is exact, then scaled in float. These
// are the oracle for the AVX2 kernels and the fallback on CPUs without AVX2.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/quant/quant_kernels.h"
#include "backends/tensor.h"

namespace trustformers::backends::cpu {
namespace {

template <typename Block>
Block Load(const uint8_t* bytes) {
  Block block;
  std::memcpy(&block, bytes, sizeof(block));
  return block;
}

template <typename Block>
void Store(const Block& block, uint8_t* bytes) {
  std::memcpy(bytes, &block, sizeof(block));
}

// Scale of a block of 8-bit values: d = amax / 127, kept at f16 precision as ggml stores it. Values
// are quantized with 127 / amax rather than 1 / d: the two differ in the last bit for some amax,
// which moves values lying near a rounding boundary, and ggml's x86 quantizers (whose results our
// logits are compared with) use 127 / amax.
struct BlockScale {
  float d;          // stored scale
  float unrounded;  // amax / 127 before the f16 rounding
  float id;         // 127 / amax, 0 for an all-zero block
};

BlockScale ScaleFor(const float* x, int n) {
  float amax = 0;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  return {HalfToFloat(FloatToHalf(d)), d, amax != 0 ? 127.0f / amax : 0.0f};
}

int8_t Round8(float v) {
  return static_cast<int8_t>(std::clamp(std::nearbyint(v), -127.0f, 127.0f));
}

void QuantizeQ8_0(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; ++b) {
    const float* xb = x + b * kQK;
    const BlockScale scale = ScaleFor(xb, kQK);
    ActBlockQ8_0 block;
    block.d = scale.d;
    for (int i = 0; i < kQK; ++i) block.qs[i] = Round8(xb[i] * scale.id);
    Store(block, out + b * static_cast<int64_t>(sizeof(block)));
  }
}

void QuantizeQ8_1(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK; ++b) {
    const float* xb = x + b * kQK;
    const BlockScale scale = ScaleFor(xb, kQK);
    ActBlockQ8_1 block;
    block.d = scale.d;
    int sum = 0;
    for (int i = 0; i < kQK; ++i) {
      block.qs[i] = Round8(xb[i] * scale.id);
      sum += block.qs[i];
    }
    // s multiplies the unrounded scale, as ggml computes it, then is kept at f16 precision.
    block.s = HalfToFloat(FloatToHalf(scale.unrounded * static_cast<float>(sum)));
    Store(block, out + b * static_cast<int64_t>(sizeof(block)));
  }
}

// Q8_K as ggml quantizes it: the scale comes from the first value of largest magnitude with its
// sign flipped (iscale = -127 / max), so d is negative when that value is positive. The products
// are the same either way; the rounding of values between steps is not.
void QuantizeQ8_K(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    const float* xb = x + b * kQK_K;
    float amax = 0, max = 0;
    for (int i = 0; i < kQK_K; ++i) {
      if (std::fabs(xb[i]) > amax) {
        amax = std::fabs(xb[i]);
        max = xb[i];
      }
    }
    ActBlockQ8_K block{};
    if (amax != 0) {
      const float iscale = -127.0f / max;
      for (int i = 0; i < kQK_K; ++i) block.qs[i] = Round8(xb[i] * iscale);
      block.d = 1.0f / iscale;
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += block.qs[16 * g + i];
      block.bsums[g] = static_cast<int16_t>(sum);
    }
    Store(block, out + b * static_cast<int64_t>(sizeof(block)));
  }
}

// Runs `dot(w, a_row)` for each of the m activation rows.
template <typename RowDot>
void ForEachRow(const uint8_t* w, const uint8_t* a, int64_t a_stride, int m, int64_t k, float* out,
                int64_t out_stride, RowDot dot) {
  for (int i = 0; i < m; ++i) out[i * out_stride] = dot(w, a + i * a_stride, k);
}

float RowDotF32(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t i = 0; i < k; ++i) sum += Load<float>(w + 4 * i) * Load<float>(a + 4 * i);
  return sum;
}

float RowDotF16(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    sum += HalfToFloat(Load<uint16_t>(w + 2 * i)) * Load<float>(a + 4 * i);
  }
  return sum;
}

float RowDotBF16(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    sum += BFloat16ToFloat(Load<uint16_t>(w + 2 * i)) * Load<float>(a + 4 * i);
  }
  return sum;
}

// Weight j of a Q4_0 / Q4_1 block's 4-bit values (low nibbles are weights 0..15).
int Nibble(const uint8_t* qs, int j) { return j < kQK / 2 ? qs[j] & 0x0F : qs[j - kQK / 2] >> 4; }

float RowDotQ4_0(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t b = 0; b < k / kQK; ++b) {
    const auto wb = Load<BlockQ4_0>(w + b * static_cast<int64_t>(sizeof(BlockQ4_0)));
    const auto ab = Load<ActBlockQ8_0>(a + b * static_cast<int64_t>(sizeof(ActBlockQ8_0)));
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (Nibble(wb.qs, j) - 8) * ab.qs[j];
    sum += HalfToFloat(wb.d) * ab.d * static_cast<float>(isum);
  }
  return sum;
}

float RowDotQ4_1(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t b = 0; b < k / kQK; ++b) {
    const auto wb = Load<BlockQ4_1>(w + b * static_cast<int64_t>(sizeof(BlockQ4_1)));
    const auto ab = Load<ActBlockQ8_1>(a + b * static_cast<int64_t>(sizeof(ActBlockQ8_1)));
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += Nibble(wb.qs, j) * ab.qs[j];
    sum += HalfToFloat(wb.d) * ab.d * static_cast<float>(isum) + HalfToFloat(wb.m) * ab.s;
  }
  return sum;
}

float RowDotQ8_0(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t b = 0; b < k / kQK; ++b) {
    const auto wb = Load<BlockQ8_0>(w + b * static_cast<int64_t>(sizeof(BlockQ8_0)));
    const auto ab = Load<ActBlockQ8_0>(a + b * static_cast<int64_t>(sizeof(ActBlockQ8_0)));
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += wb.qs[j] * ab.qs[j];
    sum += HalfToFloat(wb.d) * ab.d * static_cast<float>(isum);
  }
  return sum;
}

// Q4_K and Q5_K share everything but where the fifth bit comes from.
template <typename Block, bool kFifthBit>
float RowDotQ45_K(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    const auto wb = Load<Block>(w + b * static_cast<int64_t>(sizeof(Block)));
    const auto ab = Load<ActBlockQ8_K>(a + b * static_cast<int64_t>(sizeof(ActBlockQ8_K)));
    int scaled = 0;  // sum over sub-blocks of scale * dot
    int mins = 0;    // sum over sub-blocks of min * sum(a)
    for (int j = 0; j < kQK_K / 32; ++j) {
      const ScaleMin sm = UnpackScaleMin(wb.scales, j);
      const uint8_t* qs = wb.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int isum = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (qs[l] >> shift) & 0x0F;
        if constexpr (kFifthBit) q |= ((wb.qh[l] >> j) & 1) << 4;
        isum += q * ab.qs[32 * j + l];
      }
      scaled += sm.scale * isum;
      mins += sm.min * (ab.bsums[2 * j] + ab.bsums[2 * j + 1]);
    }
    sum += ab.d * (HalfToFloat(wb.d) * static_cast<float>(scaled) -
                   HalfToFloat(wb.dmin) * static_cast<float>(mins));
  }
  return sum;
}

float RowDotQ6_K(const uint8_t* w, const uint8_t* a, int64_t k) {
  float sum = 0;
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    const auto wb = Load<BlockQ6_K>(w + b * static_cast<int64_t>(sizeof(BlockQ6_K)));
    const auto ab = Load<ActBlockQ8_K>(a + b * static_cast<int64_t>(sizeof(ActBlockQ8_K)));
    int scaled = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      int isum = 0;
      for (int i = 16 * s; i < 16 * s + 16; ++i) {
        const int half = i / 128;
        const int part = i % 128 / 32;
        const int l = i % 32;
        const uint8_t* ql = wb.ql + 64 * half;
        const uint8_t* qh = wb.qh + 32 * half;
        const int low = part < 2 ? ql[l + 32 * part] & 0x0F : ql[l + 32 * (part - 2)] >> 4;
        const int high = (qh[l] >> (2 * part)) & 0x03;
        isum += ((low | (high << 4)) - 32) * ab.qs[i];
      }
      scaled += wb.scales[s] * isum;
    }
    sum += ab.d * HalfToFloat(wb.d) * static_cast<float>(scaled);
  }
  return sum;
}

template <float (*RowDot)(const uint8_t*, const uint8_t*, int64_t)>
void Dot(const uint8_t* w, const uint8_t* a, int64_t a_stride, int m, int64_t k, float* out,
         int64_t out_stride) {
  ForEachRow(w, a, a_stride, m, k, out, out_stride, RowDot);
}

}  // namespace

const QuantKernelTable& ReferenceQuantKernels() {
  static const QuantKernelTable table = {
      .name = "reference",
      .quantize_q8_0 = QuantizeQ8_0,
      .quantize_q8_1 = QuantizeQ8_1,
      .quantize_q8_k = QuantizeQ8_K,
      .dot_f32 = Dot<RowDotF32>,
      .dot_f16 = Dot<RowDotF16>,
      .dot_bf16 = Dot<RowDotBF16>,
      .dot_q4_0 = Dot<RowDotQ4_0>,
      .dot_q4_1 = Dot<RowDotQ4_1>,
      .dot_q8_0 = Dot<RowDotQ8_0>,
      .dot_q4_k = Dot<RowDotQ45_K<BlockQ4_K, false>>,
      .dot_q5_k = Dot<RowDotQ45_K<BlockQ5_K, true>>,
      .dot_q6_k = Dot<RowDotQ6_K>,
  };
  return table;
}

}  // namespace trustformers::backends::cpu
