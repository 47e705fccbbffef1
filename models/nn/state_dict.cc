#include "models/nn/state_dict.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/tensor.h"
#include "models/loader/safetensors.h"
#include "models/nn/durable_file.h"
#include "nlohmann/json.hpp"

namespace trustformers::nn {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

float Bf16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

}  // namespace

std::string safetensors_bytes(const NamedTensors& tensors) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * sizeof(float);
    header[name] = {{"dtype", "F32"},
                    {"shape", std::vector<int64_t>(tensor.shape().begin(), tensor.shape().end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // The data starts 8-byte aligned, as the format recommends.
  text.append((8 - (text.size() + 8) % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t size = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  out += text;
  for (const auto& [name, tensor] : tensors) {
    out.append(reinterpret_cast<const char*>(tensor.data()),
               static_cast<size_t>(tensor.numel()) * sizeof(float));
  }
  return out;
}

absl::Status save_tensors(const NamedTensors& tensors, const std::string& path) {
  return WriteFileAtomically(path, safetensors_bytes(tensors));
}

absl::Status save_state_dict(const Module& module, const std::string& path) {
  return save_tensors(module.named_parameters(), path);
}

absl::Status load_state_dict(const Module& module, const std::string& path, bool strict) {
  return load_tensors(module.named_parameters(), path, strict);
}

absl::Status load_tensors(const NamedTensors& parameters, const std::string& path, bool strict) {
  absl::StatusOr<std::unique_ptr<models::SafetensorsFile>> file =
      models::SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  std::vector<std::string> missing, mismatched;
  std::set<std::string> known;
  std::vector<std::pair<const models::SafetensorsTensor*, const Tensor*>> copies;
  for (const auto& [name, tensor] : parameters) {
    known.insert(name);
    const models::SafetensorsTensor* stored = (*file)->Find(name);
    if (stored == nullptr) {
      missing.push_back(name);
      continue;
    }
    const std::vector<int64_t> want(tensor.shape().begin(), tensor.shape().end());
    if (stored->shape != want) {
      mismatched.push_back(absl::StrCat(name, " is ", ShapeText(stored->shape), " in the file, ",
                                        ShapeText(want), " in the model"));
      continue;
    }
    const backends::DType type = stored->dtype;
    if (type != backends::DType::kF32 && type != backends::DType::kF16 &&
        type != backends::DType::kBF16) {
      mismatched.push_back(absl::StrCat(name, " has a type that is not F32, F16 or BF16"));
      continue;
    }
    copies.emplace_back(stored, &tensor);
  }
  std::vector<std::string> unexpected;
  for (const models::SafetensorsTensor& stored : (*file)->tensors()) {
    if (known.count(stored.name) == 0) unexpected.push_back(stored.name);
  }
  if (!mismatched.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' does not fit the model: ", absl::StrJoin(mismatched, "; ")));
  }
  if (strict && (!missing.empty() || !unexpected.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "' does not match the model's parameters; missing: [",
        absl::StrJoin(missing, ", "), "], unexpected: [", absl::StrJoin(unexpected, ", "), "]"));
  }
  for (const auto& [stored, tensor] : copies) {
    float* out = tensor->mutable_data();
    const int64_t n = tensor->numel();
    const uint8_t* in = stored->bytes.data();
    for (int64_t i = 0; i < n; ++i) {
      if (stored->dtype == backends::DType::kF32) {
        std::memcpy(out + i, in + i * 4, sizeof(float));
      } else {
        uint16_t bits;
        std::memcpy(&bits, in + i * 2, sizeof(bits));
        out[i] = stored->dtype == backends::DType::kF16 ? backends::HalfToFloat(bits)
                                                        : Bf16ToFloat(bits);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace trustformers::nn
