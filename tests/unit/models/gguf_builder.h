// Writes GGUF files byte by byte for tests: valid by default, every field overridable to build
// hostile ones.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trustformers::testing::gguf {

// Little-endian encoders (the host is little-endian, as GGUF assumes).
template <typename T>
std::string Le(T value) {
  std::string bytes(sizeof(T), '\0');
  std::memcpy(bytes.data(), &value, sizeof(T));
  return bytes;
}
inline std::string Str(const std::string& text) { return Le<uint64_t>(text.size()) + text; }

// A metadata value as stored: its type id, then its payload.
struct Value {
  uint32_t type;
  std::string payload;
};
inline Value U8(uint8_t v) { return {0, Le(v)}; }
inline Value I8(int8_t v) { return {1, Le(v)}; }
inline Value U16(uint16_t v) { return {2, Le(v)}; }
inline Value I16(int16_t v) { return {3, Le(v)}; }
inline Value U32(uint32_t v) { return {4, Le(v)}; }
inline Value I32(int32_t v) { return {5, Le(v)}; }
inline Value F32(float v) { return {6, Le(v)}; }
inline Value Bool(bool v) { return {7, Le<uint8_t>(v ? 1 : 0)}; }
inline Value String(const std::string& v) { return {8, Str(v)}; }
inline Value U64(uint64_t v) { return {10, Le(v)}; }
inline Value I64(int64_t v) { return {11, Le(v)}; }
inline Value F64(double v) { return {12, Le(v)}; }
// An array of `items`, all of `element_type`.
inline Value Array(uint32_t element_type, const std::vector<Value>& items) {
  std::string payload = Le(element_type) + Le<uint64_t>(items.size());
  for (const Value& item : items) payload += item.payload;
  return {9, payload};
}

// The test side's own table of the types the tests write.
inline uint64_t TensorBytes(uint32_t type, const std::vector<uint64_t>& dims) {
  uint64_t elements = 1;
  for (uint64_t d : dims) elements *= d;
  switch (type) {
    case 0:  // F32
      return elements * 4;
    case 1:   // F16
    case 30:  // BF16
      return elements * 2;
    case 2:  // Q4_0
      return elements / 32 * 18;
    case 3:  // Q4_1
      return elements / 32 * 20;
    case 8:  // Q8_0
      return elements / 32 * 34;
    case 12:  // Q4_K
      return elements / 256 * 144;
  }
  return 0;
}

struct TensorSpec {
  TensorSpec(std::string name_in, std::vector<uint64_t> dims_in, uint32_t type_in)
      : name(std::move(name_in)), dims(std::move(dims_in)), type(type_in) {}

  std::string name;
  std::vector<uint64_t> dims;  // GGUF order, fastest-varying first
  uint32_t type = 0;
  std::optional<uint64_t> offset;  // else the next aligned offset
};

// Builds GGUF files: valid by default, every field overridable to build hostile ones.
struct Builder {
  uint32_t version = 3;
  uint32_t alignment = 32;  // used for layout; written only through a general.alignment key
  std::vector<std::pair<std::string, Value>> metadata;
  std::vector<TensorSpec> tensors;
  std::optional<uint64_t> tensor_count;  // overrides tensors.size()
  std::optional<uint64_t> metadata_count;
  // Tensor bytes are filled with (tensor index + byte index) & 0xff.
  std::string Build() const {
    std::string out = "GGUF" + Le(version) + Le<uint64_t>(tensor_count.value_or(tensors.size())) +
                      Le<uint64_t>(metadata_count.value_or(metadata.size()));
    for (const auto& [key, value] : metadata) out += Str(key) + Le(value.type) + value.payload;
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const TensorSpec& tensor : tensors) {
      const uint64_t offset = tensor.offset.value_or(next);
      offsets.push_back(offset);
      next =
          (offset + TensorBytes(tensor.type, tensor.dims) + alignment - 1) / alignment * alignment;
      out += Str(tensor.name) + Le<uint32_t>(tensor.dims.size());
      for (uint64_t d : tensor.dims) out += Le(d);
      out += Le(tensor.type) + Le(offset);
    }
    if (tensors.empty()) return out;
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    const size_t data_start = out.size();
    for (size_t t = 0; t < tensors.size(); ++t) {
      const uint64_t bytes = TensorBytes(tensors[t].type, tensors[t].dims);
      if (offsets[t] > (1u << 20) || bytes > (1u << 20)) continue;  // hostile; leave it out
      if (out.size() < data_start + offsets[t] + bytes) {
        out.resize(data_start + offsets[t] + bytes, '\0');
      }
      for (uint64_t b = 0; b < bytes; ++b) {
        out[data_start + offsets[t] + b] = static_cast<char>((t + b) & 0xff);
      }
    }
    return out;
  }
};

}  // namespace trustformers::testing::gguf
