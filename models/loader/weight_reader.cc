#include "models/loader/weight_reader.h"

#include "absl/strings/str_cat.h"

namespace trustformers::models {

using backends::DType;
using backends::Tensor;

WeightReader::WeightReader(std::shared_ptr<SafetensorsCheckpoint> checkpoint, std::string folder,
                           std::vector<std::string> prefixes)
    : checkpoint_(std::move(checkpoint)),
      folder_(std::move(folder)),
      prefixes_(std::move(prefixes)) {}

const SafetensorsTensor* WeightReader::Lookup(const std::string& name) const {
  for (const std::string& prefix : prefixes_) {
    const std::string full = prefix + name;
    if (const SafetensorsTensor* t = checkpoint_->Find(full)) return t;
    for (auto [from, to] : {std::pair{".weight", ".gamma"}, std::pair{".bias", ".beta"}}) {
      const std::string suffix(from);
      if (full.size() > suffix.size() &&
          full.compare(full.size() - suffix.size(), std::string::npos, suffix) == 0 &&
          full.find("LayerNorm") != std::string::npos) {
        const std::string old = full.substr(0, full.size() - suffix.size()) + to;
        if (const SafetensorsTensor* t = checkpoint_->Find(old)) return t;
      }
    }
  }
  return nullptr;
}

absl::StatusOr<Tensor> WeightReader::Read(const std::string& name, const backends::Shape& shape) {
  const SafetensorsTensor* t = Lookup(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", folder_, "' has no weight '", name, "'"));
  }
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", folder_, "': weight '", t->name, "' has shape ", backends::ShapeString(t->shape),
        " but config.json implies ", backends::ShapeString(shape)));
  }
  if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("model '", folder_, "': weight '", t->name,
                                                   "' is ", backends::DTypeName(t->dtype),
                                                   "; F32, F16 and BF16 are supported"));
  }
  parameters_ += t->element_count();
  Tensor borrowed = Tensor::Borrow(t->dtype, t->shape, t->bytes.data(), checkpoint_);
  const bool aligned = reinterpret_cast<uintptr_t>(t->bytes.data()) % alignof(float) == 0;
  if (t->dtype == DType::kF32 && aligned) return borrowed;
  return borrowed.ToF32();
}

}  // namespace trustformers::models
