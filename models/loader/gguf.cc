#include "models/loader/gguf.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"

namespace trustformers::models {
namespace {

// Bytes per scalar of a fixed-size value type; 0 for string and array.
uint64_t ScalarBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16:
      return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32:
      return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsSigned(GgufValueType type) {
  return type == GgufValueType::kI8 || type == GgufValueType::kI16 || type == GgufValueType::kI32 ||
         type == GgufValueType::kI64;
}

bool IsIntegerType(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kU16:
    case GgufValueType::kI16:
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kU64:
    case GgufValueType::kI64:
      return true;
    default:
      return false;
  }
}

// Decodes one packed little-endian scalar (the host is little-endian, as the format assumes)
// into a value with the scalar fields set. `bytes` holds ScalarBytes(type) bytes.
GgufValue DecodeScalar(GgufValueType type, const uint8_t* bytes) {
  GgufValue value;
  value.type = type;
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kBool:
      value.u = bytes[0];
      break;
    case GgufValueType::kI8: {
      int8_t v;
      std::memcpy(&v, bytes, sizeof(v));
      value.i = v;
      break;
    }
    case GgufValueType::kU16: {
      uint16_t v;
      std::memcpy(&v, bytes, sizeof(v));
      value.u = v;
      break;
    }
    case GgufValueType::kI16: {
      int16_t v;
      std::memcpy(&v, bytes, sizeof(v));
      value.i = v;
      break;
    }
    case GgufValueType::kU32: {
      uint32_t v;
      std::memcpy(&v, bytes, sizeof(v));
      value.u = v;
      break;
    }
    case GgufValueType::kI32: {
      int32_t v;
      std::memcpy(&v, bytes, sizeof(v));
      value.i = v;
      break;
    }
    case GgufValueType::kF32: {
      float v;
      std::memcpy(&v, bytes, sizeof(v));
      value.f = v;
      break;
    }
    case GgufValueType::kU64:
      std::memcpy(&value.u, bytes, sizeof(value.u));
      break;
    case GgufValueType::kI64:
      std::memcpy(&value.i, bytes, sizeof(value.i));
      break;
    case GgufValueType::kF64:
      std::memcpy(&value.f, bytes, sizeof(value.f));
      break;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      break;
  }
  return value;
}

// The value of an integer scalar as T, when it fits.
template <typename T>
bool IntegerAs(const GgufValue& value, T* out) {
  if (IsSigned(value.type)) {
    if (!std::in_range<T>(value.i)) return false;
    *out = static_cast<T>(value.i);
  } else {
    if (!std::in_range<T>(value.u)) return false;
    *out = static_cast<T>(value.u);
  }
  return true;
}

std::string ValueText(const GgufValue& value) {
  return IsSigned(value.type) ? absl::StrCat(value.i) : absl::StrCat(value.u);
}

bool FloatAs(const GgufValue& value, float* out) {
  if (value.type != GgufValueType::kF32 && value.type != GgufValueType::kF64) return false;
  if (std::isfinite(value.f) && std::fabs(value.f) > std::numeric_limits<float>::max()) {
    return false;
  }
  *out = static_cast<float>(value.f);
  return true;
}

// A bounds-checked cursor over the file's bytes: every read either succeeds whole or fails with
// the position, what was being read and how many bytes were missing. `what` is a callable
// returning the description, called only on failure, so that success costs no formatting (the
// parse stays linear in the file size however long the keys).
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return size_ - position_; }

  absl::Status Truncated(absl::string_view what, uint64_t needed) const {
    return absl::InvalidArgumentError(absl::StrCat("truncated: ", what, " at byte ", position_,
                                                   " needs ", needed, " bytes but the file has ",
                                                   remaining(), " left"));
  }

  // Points `*bytes` at the next n bytes and moves past them.
  template <typename What>
  absl::Status Take(uint64_t n, const What& what, const uint8_t** bytes) {
    if (n > remaining()) return Truncated(what(), n);
    *bytes = data_ + position_;
    position_ += n;
    return absl::OkStatus();
  }

  template <typename T, typename What>
  absl::Status Read(const What& what, T* value) {
    const uint8_t* bytes = nullptr;
    TF_RETURN_IF_ERROR(Take(sizeof(T), what, &bytes));
    std::memcpy(value, bytes, sizeof(T));
    return absl::OkStatus();
  }

  // A GGUF string: u64 length, then that many bytes.
  template <typename What>
  absl::Status ReadString(const What& what, uint64_t max_bytes, absl::string_view* text) {
    uint64_t length = 0;
    TF_RETURN_IF_ERROR(Read([&] { return absl::StrCat(what(), " length"); }, &length));
    if (length > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(what(), " is ", length, " bytes long; the limit is ", max_bytes));
    }
    const uint8_t* bytes = nullptr;
    TF_RETURN_IF_ERROR(Take(length, what, &bytes));
    *text = absl::string_view(reinterpret_cast<const char*>(bytes), length);
    return absl::OkStatus();
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t position_ = 0;
};

// A description of a fixed text, for Reader.
auto Text(absl::string_view text) {
  return [text] { return std::string(text); };
}

// Parses metadata values; errors are returned without the file prefix, which Open adds.
class ValueParser {
 public:
  explicit ValueParser(Reader* reader) : reader_(*reader) {}

  // A value of `type` (already read) for `key`; `depth` counts enclosing arrays.
  absl::Status ReadValue(absl::string_view key, GgufValueType type, int depth, GgufValue* value) {
    value->type = type;
    if (type == GgufValueType::kString) {
      return reader_.ReadString([&] { return absl::StrCat("key '", key, "': string value"); },
                                kMaxGgufStringBytes, &value->str);
    }
    if (type == GgufValueType::kArray) return ReadArray(key, depth, value);
    const uint8_t* data = nullptr;
    TF_RETURN_IF_ERROR(reader_.Take(
        ScalarBytes(type), [&] { return absl::StrCat("key '", key, "': value"); }, &data));
    *value = DecodeScalar(type, data);
    if (type == GgufValueType::kBool && value->u > 1) {
      return KeyError(key, absl::StrCat("bool value is ", value->u, "; only 0 and 1 are valid"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadType(absl::string_view key, absl::string_view what, GgufValueType* type) {
    uint32_t id = 0;
    TF_RETURN_IF_ERROR(reader_.Read([&] { return absl::StrCat("key '", key, "': ", what); }, &id));
    if (id > static_cast<uint32_t>(GgufValueType::kF64)) {
      return KeyError(key, absl::StrCat("unknown ", what, " ", id, "; 0 to 12 are defined"));
    }
    *type = static_cast<GgufValueType>(id);
    return absl::OkStatus();
  }

 private:
  static absl::Status KeyError(absl::string_view key, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("key '", key, "': ", what));
  }

  absl::Status ReadArray(absl::string_view key, int depth, GgufValue* value) {
    if (depth >= kMaxGgufArrayDepth) {
      return KeyError(key, absl::StrCat("arrays nest deeper than ", kMaxGgufArrayDepth, " levels"));
    }
    TF_RETURN_IF_ERROR(ReadType(key, "array element type", &value->element_type));
    TF_RETURN_IF_ERROR(
        reader_.Read([&] { return absl::StrCat("key '", key, "': array length"); }, &value->count));
    const uint64_t count = value->count;
    if (count > kMaxGgufArrayElements) {
      return KeyError(
          key, absl::StrCat("array of ", count, " elements; the limit is ", kMaxGgufArrayElements));
    }
    // Every element takes at least this many bytes: checking that the file holds them before
    // reserving anything keeps a lying count from costing more than the file's own size.
    const GgufValueType element = value->element_type;
    const uint64_t min_bytes = element == GgufValueType::kString  ? sizeof(uint64_t)
                               : element == GgufValueType::kArray ? 12
                                                                  : ScalarBytes(element);
    if (count * min_bytes > reader_.remaining()) {  // count <= 2^24, min_bytes <= 12
      return reader_.Truncated(absl::StrCat("key '", key, "': array of ", count, " ",
                                            GgufValueTypeName(element), " elements"),
                               count * min_bytes);
    }
    if (element == GgufValueType::kString) {
      value->strings.resize(count);
      for (uint64_t n = 0; n < count; ++n) {
        TF_RETURN_IF_ERROR(
            reader_.ReadString([&] { return absl::StrCat("key '", key, "': array element ", n); },
                               kMaxGgufStringBytes, &value->strings[n]));
      }
    } else if (element == GgufValueType::kArray) {
      value->arrays.resize(count);
      for (uint64_t n = 0; n < count; ++n) {
        TF_RETURN_IF_ERROR(ReadValue(key, GgufValueType::kArray, depth + 1, &value->arrays[n]));
      }
    } else {
      const uint8_t* data = nullptr;
      TF_RETURN_IF_ERROR(reader_.Take(count * min_bytes, Text("array elements"), &data));
      value->packed = std::span<const uint8_t>(data, count * min_bytes);
      if (element == GgufValueType::kBool) {
        for (uint64_t n = 0; n < count; ++n) {
          if (data[n] > 1) {
            return KeyError(key, absl::StrCat("bool array element ", n, " is ", data[n],
                                              "; only 0 and 1 are valid"));
          }
        }
      }
    }
    return absl::OkStatus();
  }

  Reader& reader_;
};

uint64_t AlignUp(uint64_t value, uint64_t alignment, bool* overflow) {
  const uint64_t rest = value % alignment;
  uint64_t aligned = value;
  *overflow = rest != 0 && __builtin_add_overflow(value, alignment - rest, &aligned);
  return aligned;
}

}  // namespace

absl::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
      return "u8";
    case GgufValueType::kI8:
      return "i8";
    case GgufValueType::kU16:
      return "u16";
    case GgufValueType::kI16:
      return "i16";
    case GgufValueType::kU32:
      return "u32";
    case GgufValueType::kI32:
      return "i32";
    case GgufValueType::kF32:
      return "f32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kU64:
      return "u64";
    case GgufValueType::kI64:
      return "i64";
    case GgufValueType::kF64:
      return "f64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const { return IsIntegerType(type); }

int64_t GgufTensor::element_count() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;  // checked not to overflow at Open
  return count;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, FileLoad load) {
  TF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path, load));
  std::unique_ptr<GgufFile> file(new GgufFile(std::move(mapped)));
  const auto invalid = [&path](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF file '", path, "': ", what));
  };
  const auto with_file = [&path](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("GGUF file '", path, "': ", status.message()));
  };
  const uint64_t file_size = file->file_->size();
  Reader reader(file->file_->data(), file_size);
  ValueParser parser(&reader);

  // Header: magic, version, tensor count, metadata count.
  std::array<char, 4> magic{};
  if (!reader.Read(Text("the magic bytes"), &magic).ok() ||
      std::memcmp(magic.data(), "GGUF", 4) != 0) {
    return invalid("does not start with the magic bytes \"GGUF\"; not a GGUF file");
  }
  if (absl::Status s = reader.Read(Text("the version"), &file->version_); !s.ok())
    return with_file(s);
  if (file->version_ == 1) {
    return invalid(
        "is GGUF version 1, which predates 64-bit counts and is not supported; re-convert the "
        "model with a current llama.cpp (versions 2 and 3 are supported)");
  }
  if (file->version_ != 2 && file->version_ != 3) {
    return invalid(
        absl::StrCat("is GGUF version ", file->version_, "; versions 2 and 3 are supported"));
  }
  uint64_t tensor_count = 0;
  uint64_t metadata_count = 0;
  if (absl::Status s = reader.Read(Text("the tensor count"), &tensor_count); !s.ok()) {
    return with_file(s);
  }
  if (absl::Status s = reader.Read(Text("the metadata count"), &metadata_count); !s.ok()) {
    return with_file(s);
  }
  if (tensor_count > kMaxGgufTensors) {
    return invalid(
        absl::StrCat("declares ", tensor_count, " tensors; the limit is ", kMaxGgufTensors));
  }
  if (metadata_count > kMaxGgufMetadata) {
    return invalid(absl::StrCat("declares ", metadata_count, " metadata keys; the limit is ",
                                kMaxGgufMetadata));
  }
  // A key/value pair takes at least 13 bytes (key length, type, one byte of value), a tensor
  // info at least 24 (name length, dimension count, type, offset).
  if (metadata_count * 13 + tensor_count * 24 > reader.remaining()) {
    return with_file(reader.Truncated(
        absl::StrCat(metadata_count, " metadata keys and ", tensor_count, " tensor infos"),
        metadata_count * 13 + tensor_count * 24));
  }

  // Metadata.
  file->keys_.reserve(metadata_count);
  file->values_.reserve(metadata_count);
  for (uint64_t n = 0; n < metadata_count; ++n) {
    absl::string_view key;
    if (absl::Status s = reader.ReadString([n] { return absl::StrCat("metadata key ", n); },
                                           kMaxGgufKeyBytes, &key);
        !s.ok()) {
      return with_file(s);
    }
    if (key.empty()) return invalid(absl::StrCat("metadata key ", n, " is empty"));
    GgufValueType type = GgufValueType::kU8;
    GgufValue value;
    if (absl::Status s = parser.ReadType(key, "value type", &type); !s.ok()) return with_file(s);
    if (absl::Status s = parser.ReadValue(key, type, 0, &value); !s.ok()) return with_file(s);
    if (!file->key_index_.emplace(std::string(key), file->keys_.size()).second) {
      return invalid(absl::StrCat("key '", key, "' appears twice"));
    }
    file->keys_.emplace_back(key);
    file->values_.push_back(std::move(value));
  }

  // Metadata the reader itself depends on, or that bounds what later code allocates.
  if (const GgufValue* alignment = file->FindValue("general.alignment"); alignment != nullptr) {
    if (alignment->type != GgufValueType::kU32) {
      return invalid(absl::StrCat("key 'general.alignment' is ", GgufValueTypeName(alignment->type),
                                  "; it must be u32"));
    }
    if (alignment->u == 0 || (alignment->u & (alignment->u - 1)) != 0) {
      return invalid(
          absl::StrCat("key 'general.alignment' is ", alignment->u, "; it must be a power of two"));
    }
    file->alignment_ = static_cast<uint32_t>(alignment->u);
  }
  for (size_t n = 0; n < file->keys_.size(); ++n) {
    const std::string& key = file->keys_[n];
    if (key != "block_count" && !absl::EndsWith(key, ".block_count")) continue;
    const GgufValue& value = file->values_[n];
    int64_t blocks = 0;
    if (!value.is_integer()) {
      return invalid(absl::StrCat("key '", key, "' is ", GgufValueTypeName(value.type),
                                  "; a layer count must be an integer"));
    }
    if (!IntegerAs(value, &blocks) || blocks < 1 || blocks > kMaxGgufBlockCount) {
      return invalid(absl::StrCat("key '", key, "' is ", ValueText(value),
                                  "; a layer count must be 1 to ", kMaxGgufBlockCount));
    }
  }

  // Tensor infos; sizes[n] is tensors_[n]'s byte size.
  file->tensors_.reserve(tensor_count);
  std::vector<uint64_t> sizes;
  sizes.reserve(tensor_count);
  for (uint64_t n = 0; n < tensor_count; ++n) {
    GgufTensor tensor;
    absl::string_view name;
    if (absl::Status s = reader.ReadString([n] { return absl::StrCat("the name of tensor ", n); },
                                           kMaxGgufTensorNameBytes, &name);
        !s.ok()) {
      return with_file(s);
    }
    if (name.empty()) return invalid(absl::StrCat("the name of tensor ", n, " is empty"));
    tensor.name = std::string(name);
    const auto tensor_error = [&](absl::string_view what) {
      return invalid(absl::StrCat("tensor '", name, "': ", what));
    };
    const auto tensor_read = [&](absl::string_view what, auto* value) {
      absl::Status s =
          reader.Read([&] { return absl::StrCat("tensor '", name, "': ", what); }, value);
      return s.ok() ? s : with_file(s);
    };
    uint32_t n_dims = 0;
    TF_RETURN_IF_ERROR(tensor_read("dimension count", &n_dims));
    if (n_dims < 1 || n_dims > kMaxGgufDims) {
      return tensor_error(
          absl::StrCat("has ", n_dims, " dimensions; 1 to ", kMaxGgufDims, " are allowed"));
    }
    std::array<uint64_t, kMaxGgufDims> dims{};
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      TF_RETURN_IF_ERROR(tensor_read(absl::StrCat("dimension ", d), &dims[d]));
      if (dims[d] == 0 || dims[d] > uint64_t{INT64_MAX}) {
        return tensor_error(
            absl::StrCat("dimension ", d, " is ", dims[d], "; each must be 1 to 2^63-1"));
      }
      if (__builtin_mul_overflow(elements, dims[d], &elements) || elements > uint64_t{INT64_MAX}) {
        return tensor_error("element count overflows 63 bits");
      }
    }
    uint32_t type_id = 0;
    TF_RETURN_IF_ERROR(tensor_read("type", &type_id));
    const GgmlTypeTraits* traits = FindGgmlType(type_id);
    if (traits == nullptr) return tensor_error(absl::StrCat("unknown ggml type id ", type_id));
    tensor.type = static_cast<GgmlType>(type_id);
    const uint64_t block = static_cast<uint64_t>(traits->block_size);
    if (dims[0] % block != 0) {
      return tensor_error(absl::StrCat("rows of ", dims[0], " elements are not a whole number of ",
                                       traits->name, " blocks of ", block));
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(elements / block, static_cast<uint64_t>(traits->block_bytes),
                               &bytes)) {
      return tensor_error("byte size overflows 64 bits");
    }
    TF_RETURN_IF_ERROR(tensor_read("offset", &tensor.offset));
    if (tensor.offset % file->alignment_ != 0) {
      return tensor_error(absl::StrCat("offset ", tensor.offset, " is not a multiple of the ",
                                       file->alignment_, "-byte alignment"));
    }
    for (uint32_t d = n_dims; d-- > 0;) tensor.shape.push_back(static_cast<int64_t>(dims[d]));
    if (!file->tensor_index_.emplace(tensor.name, file->tensors_.size()).second) {
      return tensor_error("the name appears twice");
    }
    file->tensors_.push_back(std::move(tensor));
    sizes.push_back(bytes);
  }

  // Data section: aligned after the tensor infos; every tensor inside the file, none
  // overlapping another.
  bool overflow = false;
  file->data_offset_ = AlignUp(reader.position(), file->alignment_, &overflow);
  if (overflow) return invalid("the data section's aligned start overflows 64 bits");
  std::vector<size_t> order(file->tensors_.size());
  for (size_t n = 0; n < order.size(); ++n) order[n] = n;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return file->tensors_[a].offset != file->tensors_[b].offset
               ? file->tensors_[a].offset < file->tensors_[b].offset
               : a < b;
  });
  uint64_t previous_end = 0;
  const GgufTensor* previous = nullptr;
  for (size_t n : order) {
    GgufTensor& tensor = file->tensors_[n];
    uint64_t begin = 0;
    uint64_t end = 0;
    if (__builtin_add_overflow(file->data_offset_, tensor.offset, &begin) ||
        __builtin_add_overflow(begin, sizes[n], &end) || end > file_size) {
      return invalid(absl::StrCat("tensor '", tensor.name, "': ", sizes[n], " bytes at offset ",
                                  tensor.offset, " of the data section (which starts at byte ",
                                  file->data_offset_, ") run past the end of the ", file_size,
                                  "-byte file"));
    }
    if (previous != nullptr && tensor.offset < previous_end) {
      return invalid(absl::StrCat("tensor '", tensor.name, "' at offset ", tensor.offset,
                                  " overlaps tensor '", previous->name, "', which ends at ",
                                  previous_end));
    }
    tensor.bytes = std::span<const uint8_t>(file->file_->data() + begin, sizes[n]);
    previous_end = tensor.offset + sizes[n];
    previous = &tensor;
  }
  return file;
}

const GgufTensor* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::FindValue(absl::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &values_[it->second];
}

absl::StatusOr<const GgufValue*> GgufFile::Lookup(absl::string_view key) const {
  const GgufValue* value = FindValue(key);
  if (value == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("GGUF file '", path(), "' has no metadata key '", key, "'"));
  }
  return value;
}

absl::Status GgufFile::WrongType(absl::string_view key, const GgufValue& value,
                                 absl::string_view wanted) const {
  std::string stored(GgufValueTypeName(value.type));
  if (value.type == GgufValueType::kArray) {
    stored = absl::StrCat("array of ", GgufValueTypeName(value.element_type));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("GGUF file '", path(), "': key '", key, "' is ", stored, "; expected ", wanted));
}

template <typename T>
absl::StatusOr<T> GgufFile::GetInteger(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  T result{};
  if (!value->is_integer()) return WrongType(key, *value, "an integer");
  if (!IntegerAs(*value, &result)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF file '", path(), "': key '", key, "' is ", ValueText(*value), " (",
                     GgufValueTypeName(value->type), "), outside the range [",
                     std::numeric_limits<T>::min(), ", ", std::numeric_limits<T>::max(), "]"));
  }
  return result;
}

absl::StatusOr<uint32_t> GgufFile::GetU32(absl::string_view key) const {
  return GetInteger<uint32_t>(key);
}
absl::StatusOr<uint64_t> GgufFile::GetU64(absl::string_view key) const {
  return GetInteger<uint64_t>(key);
}
absl::StatusOr<int32_t> GgufFile::GetI32(absl::string_view key) const {
  return GetInteger<int32_t>(key);
}
absl::StatusOr<int64_t> GgufFile::GetI64(absl::string_view key) const {
  return GetInteger<int64_t>(key);
}

absl::StatusOr<float> GgufFile::GetF32(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  float result = 0;
  if (!FloatAs(*value, &result)) {
    if (value->type == GgufValueType::kF64) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF file '", path(), "': key '", key,
                                                     "' is ", value->f, " (f64), outside f32"));
    }
    return WrongType(key, *value, "f32");
  }
  return result;
}

absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type != GgufValueType::kBool) return WrongType(key, *value, "bool");
  return value->u != 0;
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type != GgufValueType::kString) return WrongType(key, *value, "string");
  return std::string(value->str);
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type != GgufValueType::kArray || value->element_type != GgufValueType::kString) {
    return WrongType(key, *value, "array of string");
  }
  std::vector<std::string> result;
  result.reserve(value->strings.size());
  for (absl::string_view text : value->strings) result.emplace_back(text);
  return result;
}

absl::StatusOr<std::vector<int32_t>> GgufFile::GetI32Array(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type != GgufValueType::kArray || !IsIntegerType(value->element_type)) {
    return WrongType(key, *value, "array of integers");
  }
  const uint64_t width = ScalarBytes(value->element_type);
  std::vector<int32_t> result(value->count);
  for (uint64_t n = 0; n < value->count; ++n) {
    const GgufValue element = DecodeScalar(value->element_type, value->packed.data() + n * width);
    if (!IntegerAs(element, &result[n])) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF file '", path(), "': key '", key,
                                                     "': element ", n, " is ", ValueText(element),
                                                     ", outside i32"));
    }
  }
  return result;
}

absl::StatusOr<std::vector<float>> GgufFile::GetF32Array(absl::string_view key) const {
  TF_ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type != GgufValueType::kArray ||
      (value->element_type != GgufValueType::kF32 && value->element_type != GgufValueType::kF64)) {
    return WrongType(key, *value, "array of f32");
  }
  const uint64_t width = ScalarBytes(value->element_type);
  std::vector<float> result(value->count);
  for (uint64_t n = 0; n < value->count; ++n) {
    const GgufValue element = DecodeScalar(value->element_type, value->packed.data() + n * width);
    if (!FloatAs(element, &result[n])) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF file '", path(), "': key '", key,
                                                     "': element ", n, " is ", element.f,
                                                     ", outside f32"));
    }
  }
  return result;
}

}  // namespace trustformers::models
