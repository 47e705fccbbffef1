// GGUF files (versions 2 and 3, llama.cpp's single-file format), validated before any tensor is
// touched: every read is bounds-checked against the memory map, value and ggml type ids are
// known, strings, arrays, nesting, key and tensor counts are capped, tensor shapes are checked
// with overflow-safe arithmetic against their type's block size, and tensor byte ranges are
// aligned, inside the file and non-overlapping. A file that passes can be read without further
// bounds checks. Parsing is linear in the file size: nothing is reserved or read for a count
// before the bytes that count needs are known to exist.
//
// Shapes: GGUF lists a tensor's dimensions fastest-varying first (ggml's ne[0] is the row
// length). GgufTensor::shape reverses them, slowest-varying first, the order PyTorch and
// safetensors use: token_embd.weight stored as [hidden, vocab] is exposed as {vocab, hidden}.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backends/ggml_type.h"
#include "models/loader/mapped_file.h"

namespace trustformers::models {

// Limits, each far above what real models use and low enough that a hostile header cannot make
// the parser allocate or loop beyond what the file's own bytes pay for.
inline constexpr uint64_t kMaxGgufStringBytes = 1 << 20;  // chat templates are tens of KB
inline constexpr uint64_t kMaxGgufKeyBytes = 65535;       // the format's own limit
inline constexpr uint64_t kMaxGgufTensorNameBytes = 64;   // the format's own limit
// Llama 3 has 128,256 tokens and ~280k merges; Gemma 256k tokens.
inline constexpr uint64_t kMaxGgufArrayElements = 1 << 24;
inline constexpr int kMaxGgufArrayDepth = 4;  // arrays of arrays of ...; real files use 1
inline constexpr uint64_t kMaxGgufTensors = 65536;
inline constexpr uint64_t kMaxGgufMetadata = 65536;
inline constexpr int kMaxGgufDims = 4;  // GGML_MAX_DIMS
inline constexpr int64_t kMaxGgufBlockCount = 1024;
inline constexpr uint32_t kDefaultGgufAlignment = 32;

// Metadata value type ids as stored.
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// "u8", "i32", "f32", "bool", "string", "array", ...
absl::string_view GgufValueTypeName(GgufValueType type);

// The ggml tensor types, shared with the backends that compute on them.
using backends::FindGgmlType;
using backends::GgmlTraits;
using backends::GgmlType;
using backends::GgmlTypeTraits;

// One metadata value. Strings and packed array elements point into the memory map and live as
// long as the GgufFile.
struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  // Scalars. Integer types and bool: `u` for unsigned types and bool, `i` for signed types.
  uint64_t u = 0;
  int64_t i = 0;
  // kF32, kF64.
  double f = 0;
  // kString: the bytes as stored (not NUL-terminated; not checked to be UTF-8).
  absl::string_view str;
  // kArray: the element type and count, and the elements in one of three forms.
  GgufValueType element_type = GgufValueType::kU8;
  uint64_t count = 0;
  // Numeric and bool elements: `count` packed little-endian values (bools checked 0 or 1).
  std::span<const uint8_t> packed;
  // String elements.
  std::vector<absl::string_view> strings;
  // Array elements (arrays of arrays).
  std::vector<GgufValue> arrays;

  bool is_integer() const;
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  // Slowest-varying first (see the top of this file); every entry > 0.
  std::vector<int64_t> shape;
  // Relative to the start of the data section, a multiple of the file's alignment.
  uint64_t offset = 0;
  // The tensor's bytes inside the memory-mapped file.
  std::span<const uint8_t> bytes;

  int64_t element_count() const;
  // The length of one row (ggml's ne[0], shape.back()), a multiple of the type's block size.
  int64_t row_length() const { return shape.back(); }
};

class GgufFile {
 public:
  // NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file, and the key or tensor, for
  // anything malformed. `load` says whether the tensors stay in the file's mapping or are copied
  // into huge-page memory (MappedFile).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                        FileLoad load = FileLoad::kMap);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  // general.alignment, else 32.
  uint32_t alignment() const { return alignment_; }
  // Where the data section starts in the file, a multiple of alignment().
  uint64_t data_offset() const { return data_offset_; }

  // Tensors in the order the file lists them.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensor* FindTensor(absl::string_view name) const;

  // Metadata keys in file order.
  const std::vector<std::string>& keys() const { return keys_; }
  // nullptr when absent.
  const GgufValue* FindValue(absl::string_view key) const;

  // Typed getters: NOT_FOUND naming the key when absent; INVALID_ARGUMENT naming the key and the
  // stored type (or value) when it is not of the asked kind. The integer getters accept every
  // integer type whose value fits; GetF32 accepts f32 and f64 within float range.
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<uint32_t> GetU32(absl::string_view key) const;
  absl::StatusOr<uint64_t> GetU64(absl::string_view key) const;
  absl::StatusOr<int32_t> GetI32(absl::string_view key) const;
  absl::StatusOr<int64_t> GetI64(absl::string_view key) const;
  absl::StatusOr<float> GetF32(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;
  absl::StatusOr<std::vector<std::string>> GetStringArray(absl::string_view key) const;
  // Arrays of any integer element type whose every element fits.
  absl::StatusOr<std::vector<int32_t>> GetI32Array(absl::string_view key) const;
  // Arrays of f32, or f64 within float range.
  absl::StatusOr<std::vector<float>> GetF32Array(absl::string_view key) const;

  // general.architecture ("llama", "qwen2", ...).
  absl::StatusOr<std::string> architecture() const { return GetString("general.architecture"); }

 private:
  explicit GgufFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}

  absl::StatusOr<const GgufValue*> Lookup(absl::string_view key) const;
  absl::Status WrongType(absl::string_view key, const GgufValue& value,
                         absl::string_view wanted) const;
  template <typename T>
  absl::StatusOr<T> GetInteger(absl::string_view key) const;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultGgufAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;  // parallel to keys_
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace trustformers::models
