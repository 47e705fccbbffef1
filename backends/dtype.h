// Element types of tensors, as stored in model files and held on devices. Block-quantised GGUF
// types join this list with the quantised kernels; everything here has a fixed element size.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace trustformers::backends {

enum class DType : uint8_t {
  kF64,
  kF32,
  kF16,
  kBF16,
  kF8E4M3,
  kF8E5M2,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kBool,
};

// Bytes per element.
constexpr int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF64:
    case DType::kI64:
    case DType::kU64:
      return 8;
    case DType::kF32:
    case DType::kI32:
    case DType::kU32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
    case DType::kU16:
      return 2;
    case DType::kF8E4M3:
    case DType::kF8E5M2:
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
      return 1;
  }
  return 0;
}

// Upper-case name as safetensors writes it: "F32", "BF16", "BOOL", ...
absl::string_view DTypeName(DType dtype);

}  // namespace trustformers::backends
