#include "models/loader/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/loader/shard_index.h"
#include "nlohmann/json.hpp"

namespace trustformers::models {
namespace {

using json = nlohmann::json;
using backends::DType;

bool ParseDType(const std::string& name, DType* dtype) {
  static const std::map<std::string, DType, std::less<>> kNames = {
      {"F64", DType::kF64},   {"F32", DType::kF32},        {"F16", DType::kF16},
      {"BF16", DType::kBF16}, {"F8_E4M3", DType::kF8E4M3}, {"F8_E5M2", DType::kF8E5M2},
      {"I64", DType::kI64},   {"I32", DType::kI32},        {"I16", DType::kI16},
      {"I8", DType::kI8},     {"U64", DType::kU64},        {"U32", DType::kU32},
      {"U16", DType::kU16},   {"U8", DType::kU8},          {"BOOL", DType::kBool}};
  auto it = kNames.find(name);
  if (it == kNames.end()) return false;
  *dtype = it->second;
  return true;
}

// A tensor's place in the data section, [begin, end) relative to its start.
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
  size_t tensor = 0;
};

class HeaderParser {
 public:
  HeaderParser(std::string source, uint64_t data_size)
      : source_(std::move(source)), data_size_(data_size) {}

  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("safetensors file '", source_, "': ", what));
  }
  absl::Status InvalidTensor(absl::string_view name, absl::string_view what) const {
    return Invalid(absl::StrCat("tensor '", name, "': ", what));
  }

  absl::Status Parse(absl::string_view header, std::vector<SafetensorsTensor>* tensors,
                     std::vector<Range>* ranges, std::map<std::string, std::string>* metadata) {
    if (header.empty() || header.front() != '{') {
      return Invalid("the header does not start with '{'; not a safetensors file");
    }
    // JSON objects may repeat a key and the parser would keep only the last; a repeated tensor
    // name is ambiguous, so count the top-level keys as they stream by.
    size_t top_level_keys = 0;
    json::parser_callback_t count_keys = [&](int depth, json::parse_event_t event, json&) {
      if (event == json::parse_event_t::key && depth == 1) ++top_level_keys;
      return true;
    };
    json root = json::parse(header.begin(), header.end(), count_keys, /*allow_exceptions=*/false);
    if (root.is_discarded()) return Invalid("the header is not valid JSON (or not UTF-8)");
    if (!root.is_object()) return Invalid("the header is not a JSON object");
    if (top_level_keys != root.size()) return Invalid("the header names a tensor twice");

    for (auto& [name, entry] : root.items()) {
      if (name == "__metadata__") {
        if (absl::Status status = ReadMetadata(entry, metadata); !status.ok()) return status;
        continue;
      }
      SafetensorsTensor tensor;
      Range range;
      if (absl::Status status = ReadTensor(name, entry, &tensor, &range); !status.ok()) {
        return status;
      }
      range.tensor = tensors->size();
      tensors->push_back(std::move(tensor));
      ranges->push_back(range);
    }
    return CheckCoverage(*tensors, ranges);
  }

 private:
  absl::Status ReadMetadata(const json& entry, std::map<std::string, std::string>* metadata) const {
    if (!entry.is_object()) return Invalid("\"__metadata__\" is not an object");
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_string()) {
        return Invalid(absl::StrCat("\"__metadata__\" value of '", key, "' is not a string"));
      }
      (*metadata)[key] = value.get<std::string>();
    }
    return absl::OkStatus();
  }

  absl::Status ReadTensor(const std::string& name, const json& entry, SafetensorsTensor* tensor,
                          Range* range) const {
    tensor->name = name;
    if (!entry.is_object()) return InvalidTensor(name, "entry is not an object");
    const auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) {
      return InvalidTensor(name, "\"dtype\" is missing or not a string");
    }
    if (!ParseDType(dtype->get<std::string>(), &tensor->dtype)) {
      return InvalidTensor(name, absl::StrCat("unknown dtype '", dtype->get<std::string>(), "'"));
    }
    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) {
      return InvalidTensor(name, "\"shape\" is missing or not an array");
    }
    uint64_t elements = 1;
    for (const json& dim : *shape) {
      if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t{INT64_MAX}) {
        return InvalidTensor(
            name, absl::StrCat("shape entry ", dim.dump(), " is not a non-negative integer"));
      }
      const uint64_t size = dim.get<uint64_t>();
      if (__builtin_mul_overflow(elements, size, &elements)) {
        return InvalidTensor(name, "element count overflows 64 bits");
      }
      tensor->shape.push_back(static_cast<int64_t>(size));
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(backends::DTypeSize(tensor->dtype)),
                               &bytes)) {
      return InvalidTensor(name, "byte size overflows 64 bits");
    }
    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      return InvalidTensor(name,
                           "\"data_offsets\" must be [begin, end] with non-negative integers");
    }
    range->begin = (*offsets)[0].get<uint64_t>();
    range->end = (*offsets)[1].get<uint64_t>();
    if (range->end < range->begin) {
      return InvalidTensor(name, absl::StrCat("data_offsets [", range->begin, ", ", range->end,
                                              "] end before they begin"));
    }
    if (range->end - range->begin != bytes) {
      return InvalidTensor(
          name, absl::StrCat("shape ", shape->dump(), " of ", backends::DTypeName(tensor->dtype),
                             " needs ", bytes, " bytes but data_offsets [", range->begin, ", ",
                             range->end, "] hold ", range->end - range->begin));
    }
    if (range->end > data_size_) {
      return InvalidTensor(
          name, absl::StrCat("data_offsets end at ", range->end, " but the data section has only ",
                             data_size_, " bytes"));
    }
    return absl::OkStatus();
  }

  // Sorted by position, the ranges must tile [0, data_size) exactly: no gap, no overlap.
  absl::Status CheckCoverage(const std::vector<SafetensorsTensor>& tensors,
                             std::vector<Range>* ranges) const {
    std::sort(ranges->begin(), ranges->end(), [](const Range& a, const Range& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t covered = 0;
    const std::string* previous = nullptr;
    for (const Range& range : *ranges) {
      const std::string& name = tensors[range.tensor].name;
      if (range.begin < covered) {
        return InvalidTensor(name, absl::StrCat("data_offsets [", range.begin, ", ", range.end,
                                                "] overlap tensor '", *previous, "'"));
      }
      if (range.begin > covered) {
        return Invalid(absl::StrCat("bytes [", covered, ", ", range.begin,
                                    ") of the data section belong to no tensor (before '", name,
                                    "')"));
      }
      covered = range.end;
      previous = &name;
    }
    if (covered != data_size_) {
      return Invalid(absl::StrCat("the data section has ", data_size_, " bytes but tensors cover ",
                                  covered, "; trailing bytes belong to no tensor"));
    }
    return absl::OkStatus();
  }

  std::string source_;
  uint64_t data_size_;
};

}  // namespace

int64_t SafetensorsTensor::element_count() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedFile>> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(*std::move(mapped)));
  const uint64_t size = file->file_->size();
  HeaderParser parser(path, 0);
  if (size < 8) {
    return parser.Invalid(
        absl::StrCat("the file has ", size, " bytes, fewer than the 8-byte header length"));
  }
  uint64_t header_size = 0;
  std::memcpy(&header_size, file->file_->data(), sizeof(header_size));  // little-endian host
  if (header_size > kMaxSafetensorsHeaderBytes) {
    return parser.Invalid(absl::StrCat("header length ", header_size, " exceeds the limit of ",
                                       kMaxSafetensorsHeaderBytes, " bytes"));
  }
  if (header_size > size - 8) {
    return parser.Invalid(absl::StrCat("header length ", header_size, " runs past the end of the ",
                                       size, "-byte file"));
  }
  const uint8_t* data_start = file->file_->data() + 8 + header_size;
  HeaderParser checked(path, size - 8 - header_size);
  std::vector<Range> ranges;
  absl::Status status = checked.Parse(
      absl::string_view(reinterpret_cast<const char*>(file->file_->data() + 8), header_size),
      &file->tensors_, &ranges, &file->metadata_);
  if (!status.ok()) return status;
  // Data order, so that tensors() walks the file front to back.
  std::vector<SafetensorsTensor> ordered;
  ordered.reserve(ranges.size());
  for (const Range& range : ranges) {
    SafetensorsTensor& tensor = file->tensors_[range.tensor];
    tensor.bytes = std::span<const uint8_t>(data_start + range.begin, range.end - range.begin);
    ordered.push_back(std::move(tensor));
  }
  file->tensors_ = std::move(ordered);
  for (size_t i = 0; i < file->tensors_.size(); ++i) file->index_[file->tensors_[i].name] = i;
  return file;
}

const SafetensorsTensor* SafetensorsFile::Find(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::Open(
    const std::string& folder) {
  namespace fs = std::filesystem;
  auto checkpoint = std::make_unique<SafetensorsCheckpoint>();
  const fs::path single = fs::path(folder) / "model.safetensors";
  const fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
  std::map<std::string, std::string> expected;  // tensor -> shard file, from the index
  std::vector<std::string> shard_files;
  if (fs::is_regular_file(single)) {
    shard_files.push_back(single.string());
  } else {
    absl::StatusOr<ShardIndex> index = ReadShardIndex(index_path.string());
    if (!index.ok()) return index.status();
    expected = std::move(index->tensor_to_shard);
    shard_files = std::move(index->shard_paths);
  }
  for (const std::string& shard_path : shard_files) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> shard = SafetensorsFile::Open(shard_path);
    if (!shard.ok()) return shard.status();
    const std::string shard_name = fs::path(shard_path).filename().string();
    for (const SafetensorsTensor& tensor : (*shard)->tensors()) {
      auto [it, inserted] = checkpoint->by_name_.emplace(tensor.name, &tensor);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", tensor.name, "' appears in two shards of '", folder, "'"));
      }
      auto listed = expected.find(tensor.name);
      if (listed != expected.end() && listed->second != shard_name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model.safetensors.index.json in '", folder, "' maps tensor '", tensor.name, "' to '",
            listed->second, "' but it is in '", shard_name, "'"));
      }
    }
    checkpoint->shards_.push_back(*std::move(shard));
  }
  for (const auto& [name, shard] : expected) {
    if (checkpoint->Find(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("model.safetensors.index.json in '", folder,
                                                     "' maps tensor '", name, "' to '", shard,
                                                     "', which does not contain it"));
    }
  }
  return checkpoint;
}

const SafetensorsTensor* SafetensorsCheckpoint::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const SafetensorsTensor*> SafetensorsCheckpoint::AllTensors() const {
  std::vector<const SafetensorsTensor*> all;
  all.reserve(by_name_.size());
  for (const auto& [name, tensor] : by_name_) all.push_back(tensor);
  return all;
}

}  // namespace trustformers::models
