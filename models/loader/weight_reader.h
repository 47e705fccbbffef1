// Weights of a Hugging Face checkpoint by name, as F32 tensors of an expected shape: zero-copy
// views of the mapped file for aligned F32, converted for F16 and BF16. Names are tried with each
// task-model prefix ("bert.", "transformer.", ...) and, for LayerNorm parameters, with the old
// "gamma" / "beta" spellings. Counts the parameters it hands out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/tensor.h"
#include "models/loader/safetensors.h"

namespace trustformers::models {

class WeightReader {
 public:
  WeightReader(std::shared_ptr<SafetensorsCheckpoint> checkpoint, std::string folder,
               std::vector<std::string> prefixes);

  const SafetensorsTensor* Lookup(const std::string& name) const;
  bool Has(const std::string& name) const { return Lookup(name) != nullptr; }

  // INVALID_ARGUMENT naming the weight when it is missing, of another shape or of a dtype other
  // than F32, F16 and BF16.
  absl::StatusOr<backends::Tensor> Read(const std::string& name, const backends::Shape& shape);

  int64_t parameters() const { return parameters_; }

 private:
  std::shared_ptr<SafetensorsCheckpoint> checkpoint_;
  std::string folder_;
  std::vector<std::string> prefixes_;
  int64_t parameters_ = 0;
};

}  // namespace trustformers::models
