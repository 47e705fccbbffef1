// Reference dequantization, one function per block format. Each reads one block (memcpy'd into
// its struct, so the input needs no alignment) and writes its weights in order.
//
// Exactness: an f16 scale has an 11-bit significand and the integers it multiplies have at most
// 8 (a Q8_0 value, a K-quant 6-bit scale times a 5-bit q, ...), so every product below is exact
// in float except Q6_K's d * scale * q (up to 25 bits), which is rounded exactly once whichever
// way it is grouped. The only other rounding is the final add or subtract of Q4_1 / Q4_K / Q5_K.
// Hence the results do not depend on evaluation order or FMA contraction, and equal gguf-py's
// numpy float32 arithmetic bit for bit.
#include "backends/cpu/quant/dequantize.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "backends/tensor.h"

namespace trustformers::backends::cpu {
namespace {

template <typename Block>
Block LoadBlock(const uint8_t* bytes) {
  Block block;
  std::memcpy(&block, bytes, sizeof(block));
  return block;
}

void DequantizeQ4_0(const BlockQ4_0& b, float* out) {
  const float d = HalfToFloat(b.d);
  for (int j = 0; j < kQK / 2; ++j) {
    out[j] = d * static_cast<float>((b.qs[j] & 0x0F) - 8);
    out[j + kQK / 2] = d * static_cast<float>((b.qs[j] >> 4) - 8);
  }
}

void DequantizeQ4_1(const BlockQ4_1& b, float* out) {
  const float d = HalfToFloat(b.d);
  const float m = HalfToFloat(b.m);
  for (int j = 0; j < kQK / 2; ++j) {
    out[j] = d * static_cast<float>(b.qs[j] & 0x0F) + m;
    out[j + kQK / 2] = d * static_cast<float>(b.qs[j] >> 4) + m;
  }
}

void DequantizeQ8_0(const BlockQ8_0& b, float* out) {
  const float d = HalfToFloat(b.d);
  for (int j = 0; j < kQK; ++j) out[j] = d * static_cast<float>(b.qs[j]);
}

void DequantizeQ4_K(const BlockQ4_K& b, float* out) {
  const float d = HalfToFloat(b.d);
  const float dmin = HalfToFloat(b.dmin);
  for (int j = 0; j < kQK_K / 32; ++j) {  // sub-blocks of 32 weights
    const ScaleMin sm = UnpackScaleMin(b.scales, j);
    const float scale = d * static_cast<float>(sm.scale);
    const float min = dmin * static_cast<float>(sm.min);
    const uint8_t* qs = b.qs + 32 * (j / 2);  // even j: low nibbles, odd j: high nibbles
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[l] >> shift) & 0x0F;
      out[32 * j + l] = scale * static_cast<float>(q) - min;
    }
  }
}

void DequantizeQ5_K(const BlockQ5_K& b, float* out) {
  const float d = HalfToFloat(b.d);
  const float dmin = HalfToFloat(b.dmin);
  for (int j = 0; j < kQK_K / 32; ++j) {
    const ScaleMin sm = UnpackScaleMin(b.scales, j);
    const float scale = d * static_cast<float>(sm.scale);
    const float min = dmin * static_cast<float>(sm.min);
    const uint8_t* qs = b.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[l] >> shift) & 0x0F) | (((b.qh[l] >> j) & 1) << 4);
      out[32 * j + l] = scale * static_cast<float>(q) - min;
    }
  }
}

void DequantizeQ6_K(const BlockQ6_K& b, float* out) {
  const float d = HalfToFloat(b.d);
  for (int i = 0; i < kQK_K; ++i) {
    const int half = i / 128;  // ql[64 half ..], qh[32 half ..]
    const int k = i % 128 / 32;
    const int l = i % 32;
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int low = k < 2 ? ql[l + 32 * k] & 0x0F : ql[l + 32 * (k - 2)] >> 4;
    const int high = (qh[l] >> (2 * k)) & 0x03;
    const int q = (low | (high << 4)) - 32;
    out[i] = d * static_cast<float>(b.scales[i / 16]) * static_cast<float>(q);
  }
}

// Applies `per_block` to each of the n_blocks blocks of `Block` in `bytes`.
template <typename Block, typename Fn>
void ForEachBlock(const uint8_t* bytes, int64_t n_blocks, float* out, int64_t block_size,
                  Fn per_block) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    per_block(LoadBlock<Block>(bytes + i * static_cast<int64_t>(sizeof(Block))),
              out + i * block_size);
  }
}

}  // namespace

absl::Status Dequantize(GgmlBlockType type, std::span<const uint8_t> blocks, int64_t count,
                        float* out) {
  if (!CanDequantize(type)) {
    const absl::string_view known = GgmlBlockTypeName(type);
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot dequantize ggml type ",
        known.empty() ? absl::StrCat(static_cast<uint32_t>(type)) : std::string(known)));
  }
  const int64_t block_size = BlockSize(type);
  const absl::string_view name = GgmlBlockTypeName(type);
  if (count < 0 || count % block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", count, " weights is not a multiple of the block size ", block_size));
  }
  const int64_t n_blocks = count / block_size;
  const int64_t want_bytes = n_blocks * BytesPerBlock(type);
  if (static_cast<uint64_t>(want_bytes) != blocks.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", count, " weights take ", want_bytes,
                                                   " bytes, got ", blocks.size()));
  }
  if (count > 0 && out == nullptr) return absl::InvalidArgumentError("null output");

  const uint8_t* bytes = blocks.data();
  switch (type) {
    case GgmlBlockType::kF32:
      if (count > 0) std::memcpy(out, bytes, blocks.size());
      break;
    case GgmlBlockType::kF16:
    case GgmlBlockType::kBF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, sizeof(bits));
        out[i] = type == GgmlBlockType::kF16 ? HalfToFloat(bits) : BFloat16ToFloat(bits);
      }
      break;
    case GgmlBlockType::kQ4_0:
      ForEachBlock<BlockQ4_0>(bytes, n_blocks, out, block_size, DequantizeQ4_0);
      break;
    case GgmlBlockType::kQ4_1:
      ForEachBlock<BlockQ4_1>(bytes, n_blocks, out, block_size, DequantizeQ4_1);
      break;
    case GgmlBlockType::kQ8_0:
      ForEachBlock<BlockQ8_0>(bytes, n_blocks, out, block_size, DequantizeQ8_0);
      break;
    case GgmlBlockType::kQ4_K:
      ForEachBlock<BlockQ4_K>(bytes, n_blocks, out, block_size, DequantizeQ4_K);
      break;
    case GgmlBlockType::kQ5_K:
      ForEachBlock<BlockQ5_K>(bytes, n_blocks, out, block_size, DequantizeQ5_K);
      break;
    case GgmlBlockType::kQ6_K:
      ForEachBlock<BlockQ6_K>(bytes, n_blocks, out, block_size, DequantizeQ6_K);
      break;
    default:  // refused above by CanDequantize
      break;
  }
  return absl::OkStatus();
}

}  // namespace trustformers::backends::cpu
