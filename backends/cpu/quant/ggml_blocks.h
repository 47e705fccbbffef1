// GGUF / ggml block formats: the type ids as GGUF files store them, weights and bytes per block,
// and the byte layout of each quantized block. A tensor of a block type is a run of blocks, each
// covering `BlockSize` consecutive weights of a row in `BytesPerBlock` bytes. Scales are IEEE
// half floats kept as their raw bits (`uint16_t`); everything is little-endian, as in the files.
//
// The structs have natural layout with no padding (the static_asserts check every size and
// offset), so a block's bytes can be memcpy'd into one. Their alignment is at most 2: read them
// from a byte span by memcpy, never by casting a pointer into a file mapping.
//
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "backends/ggml_type.h"

namespace trustformers::backends::cpu {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are little-endian");

// The block types are ggml's; backends/ggml_type.h holds their ids and sizes.
using GgmlBlockType = GgmlType;

// Weights per super-block of the K-quants.
inline constexpr int kQK_K = 256;
// Weights per block of the legacy formats (Q4_0, Q4_1, Q8_0).
inline constexpr int kQK = 32;

// Q4_0: 32 weights, w[i] = d * (q[i] - 8) with 4-bit q. Byte qs[j] holds weight j in its low
// nibble and weight j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;  // f16 scale
  uint8_t qs[kQK / 2];
};

// Q4_1: 32 weights, w[i] = d * q[i] + m with 4-bit q; nibbles as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;  // f16 scale
  uint16_t m;  // f16 minimum (offset)
  uint8_t qs[kQK / 2];
};

// Q8_0: 32 weights, w[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[kQK];
};

// The 12 bytes that pack eight 6-bit scales and eight 6-bit mins of Q4_K and Q5_K, one pair per
// sub-block of 32 weights. For sub-block j < 4: scale = bytes[j] & 63, min = bytes[j + 4] & 63.
// For j >= 4 the low 4 bits come from bytes[j + 4] (scale in the low nibble, min in the high one)
// and the top 2 bits from the spare top bits of bytes[j - 4] (scale) and bytes[j] (min).
inline constexpr int kScalesSizeK = 12;

// Q4_K: 256 weights in 8 sub-blocks of 32, w = d * scale[j] * q - dmin * min[j] with 4-bit q.
// qs holds 4 chunks of 32 bytes; chunk c gives sub-block 2c its low nibbles and sub-block
// 2c + 1 its high nibbles (weight 64c + l is qs[32c + l] & 15, weight 64c + 32 + l is
// qs[32c + l] >> 4).
struct BlockQ4_K {
  uint16_t d;     // f16 super-block scale of the scales
  uint16_t dmin;  // f16 super-block scale of the mins
  uint8_t scales[kScalesSizeK];
  uint8_t qs[kQK_K / 2];
};

// Q5_K: Q4_K plus a fifth bit per weight: q = low nibble (as in Q4_K) | 16 * bit j of qh[l] for
// weight l of sub-block j.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kScalesSizeK];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 256 weights in 16 sub-blocks of 16, w[i] = d * scales[i / 16] * (q[i] - 32) with 6-bit q.
// Two halves of 128 weights; half h uses ql[64h .. 64h + 63] and qh[32h .. 32h + 31]. Within a
// half, weight 32k + l (k = 0..3, l = 0..31) takes its low 4 bits from the low nibble of
// ql[l + 32k] for k < 2 and the high nibble of ql[l + 32(k - 2)] for k >= 2, and its top 2 bits
// from bits 2k, 2k + 1 of qh[l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // f16 super-block scale, last
};

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block.
struct ScaleMin {
  int scale;
  int min;
};

inline ScaleMin UnpackScaleMin(const uint8_t (&scales)[kScalesSizeK], int j) {
  if (j < 4) return {scales[j] & 0x3F, scales[j + 4] & 0x3F};
  return {(scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
          (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4)};
}

static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ4_1) == 20 && offsetof(BlockQ4_1, qs) == 4);
static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, scales) == 4 &&
              offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, scales) == 4 &&
              offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);

// Weights per block (1 for the plain float types); 0 for an id ggml does not define.
constexpr int64_t BlockSize(GgmlBlockType type) {
  const GgmlTypeTraits* traits = FindGgmlType(static_cast<uint32_t>(type));
  return traits != nullptr ? traits->block_size : 0;
}

// Bytes per block; 0 for an id ggml does not define.
constexpr int64_t BytesPerBlock(GgmlBlockType type) {
  const GgmlTypeTraits* traits = FindGgmlType(static_cast<uint32_t>(type));
  return traits != nullptr ? traits->block_bytes : 0;
}

// ggml's name ("Q4_K"); empty for an id ggml does not define.
constexpr absl::string_view GgmlBlockTypeName(GgmlBlockType type) {
  const GgmlTypeTraits* traits = FindGgmlType(static_cast<uint32_t>(type));
  return traits != nullptr ? traits->name : absl::string_view();
}

// The types Dequantize handles.
constexpr bool CanDequantize(GgmlBlockType type) {
  switch (type) {
    case GgmlBlockType::kF32:
    case GgmlBlockType::kF16:
    case GgmlBlockType::kBF16:
    case GgmlBlockType::kQ4_0:
    case GgmlBlockType::kQ4_1:
    case GgmlBlockType::kQ8_0:
    case GgmlBlockType::kQ4_K:
    case GgmlBlockType::kQ5_K:
    case GgmlBlockType::kQ6_K:
      return true;
    default:
      return false;
  }
}

}  // namespace trustformers::backends::cpu
