// ggml tensor types: the ids GGUF files store, with ggml's names, weights per block and bytes
// per block. One table for the GGUF reader (models/loader/gguf) and the kernels that compute on
// the blocks (backends/cpu/quant).
#pragma once

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace trustformers::backends {

// ggml tensor type ids as stored. Ids missing from the list were removed from ggml and are
// refused like any unknown id.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// Elements per block and bytes per block; unquantised types are blocks of one element.
struct GgmlTypeTraits {
  absl::string_view name;  // "F32", "Q4_1", "Q6_K", ... as ggml names them (upper case)
  int64_t block_size = 0;
  int64_t block_bytes = 0;
};

// Indexed by type id; block_size 0 marks an id that ggml does not (or no longer) define.
// Block layouts are ggml's (ggml-common.h); Q8_1 is two halves and 32 int8s, 36 bytes.
inline constexpr std::array<GgmlTypeTraits, 40> kGgmlTypes = {{
    {"F32", 1, 4},         // 0
    {"F16", 1, 2},         // 1
    {"Q4_0", 32, 18},      // 2
    {"Q4_1", 32, 20},      // 3
    {"", 0, 0},            // 4 Q4_2, removed
    {"", 0, 0},            // 5 Q4_3, removed
    {"Q5_0", 32, 22},      // 6
    {"Q5_1", 32, 24},      // 7
    {"Q8_0", 32, 34},      // 8
    {"Q8_1", 32, 36},      // 9
    {"Q2_K", 256, 84},     // 10
    {"Q3_K", 256, 110},    // 11
    {"Q4_K", 256, 144},    // 12
    {"Q5_K", 256, 176},    // 13
    {"Q6_K", 256, 210},    // 14
    {"Q8_K", 256, 292},    // 15
    {"IQ2_XXS", 256, 66},  // 16
    {"IQ2_XS", 256, 74},   // 17
    {"IQ3_XXS", 256, 98},  // 18
    {"IQ1_S", 256, 50},    // 19
    {"IQ4_NL", 32, 18},    // 20
    {"IQ3_S", 256, 110},   // 21
    {"IQ2_S", 256, 82},    // 22
    {"IQ4_XS", 256, 136},  // 23
    {"I8", 1, 1},          // 24
    {"I16", 1, 2},         // 25
    {"I32", 1, 4},         // 26
    {"I64", 1, 8},         // 27
    {"F64", 1, 8},         // 28
    {"IQ1_M", 256, 56},    // 29
    {"BF16", 1, 2},        // 30
    {"", 0, 0},            // 31 Q4_0_4_4, removed
    {"", 0, 0},            // 32 Q4_0_4_8, removed
    {"", 0, 0},            // 33 Q4_0_8_8, removed
    {"TQ1_0", 256, 54},    // 34
    {"TQ2_0", 256, 66},    // 35
    {"", 0, 0},            // 36 IQ4_NL_4_4, removed
    {"", 0, 0},            // 37 IQ4_NL_4_8, removed
    {"", 0, 0},            // 38 IQ4_NL_8_8, removed
    {"MXFP4", 32, 17},     // 39
}};

// nullptr for an id ggml does not (or no longer) define.
constexpr const GgmlTypeTraits* FindGgmlType(uint32_t id) {
  if (id >= kGgmlTypes.size() || kGgmlTypes[id].block_size == 0) return nullptr;
  return &kGgmlTypes[id];
}

// The traits of a listed type.
constexpr const GgmlTypeTraits& GgmlTraits(GgmlType type) {
  return kGgmlTypes[static_cast<uint32_t>(type)];
}

}  // namespace trustformers::backends
