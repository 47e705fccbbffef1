// safetensors files, validated as strictly as the format's reference parser before any tensor is
// touched: header size cap, a JSON object header, known dtypes, shape x dtype size equal to each
// byte range, ranges inside the file, in order, non-overlapping and covering the data section
// exactly, no integer overflow. A file that passes can be read without further bounds checks.
// Sharded checkpoints are opened through model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backends/dtype.h"
#include "models/loader/mapped_file.h"

namespace trustformers::models {

// The reference parser's limit; real headers are kilobytes.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsTensor {
  std::string name;
  backends::DType dtype = backends::DType::kF32;
  std::vector<int64_t> shape;
  // The tensor's bytes inside the memory-mapped file.
  std::span<const uint8_t> bytes;

  int64_t element_count() const;
};

class SafetensorsFile {
 public:
  // NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file, the tensor and the rule for
  // anything malformed.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  // Tensors in data order.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensor* Find(absl::string_view name) const;
  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_->path(); }

 private:
  explicit SafetensorsFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}

  std::unique_ptr<MappedFile> file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// All shards of one checkpoint, looked up by tensor name.
class SafetensorsCheckpoint {
 public:
  // `folder` holds model.safetensors or model.safetensors.index.json. Every shard is validated,
  // every name the index lists must exist in the shard it names, and no name may appear in two
  // shards.
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> Open(const std::string& folder);

  // nullptr when absent.
  const SafetensorsTensor* Find(absl::string_view name) const;
  // Every tensor of every shard, ordered by name.
  std::vector<const SafetensorsTensor*> AllTensors() const;
  size_t shard_count() const { return shards_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const SafetensorsTensor*, std::less<>> by_name_;
};

}  // namespace trustformers::models
