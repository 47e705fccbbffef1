// Recognises what a model path holds before anything is loaded: a Hugging Face folder
// (config.json + safetensors) or a GGUF file. Pickle checkpoints are refused here, by name and by
// content, since unpickling runs arbitrary code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::models {

enum class ModelFormat { kHfSafetensors, kGguf };

struct ModelSource {
  ModelFormat format = ModelFormat::kHfSafetensors;
  // The folder (Hugging Face) or the file (GGUF), absolute.
  std::string path;
  // Weight files in load order: the safetensors shards, or the GGUF file itself.
  std::vector<std::string> weight_files;
  // Total size of weight_files in bytes.
  int64_t weight_bytes = 0;
  // "architectures"[0] of config.json (e.g. "BertModel"); empty for GGUF until its metadata is
  // read by the GGUF loader.
  std::string architecture;
  // GGUF format version (2 or 3); 0 for Hugging Face folders.
  uint32_t gguf_version = 0;
};

// NOT_FOUND when the path does not exist; INVALID_ARGUMENT naming the file and the problem when it
// is not a model this server can load.
absl::StatusOr<ModelSource> InspectModelSource(const std::string& path);

}  // namespace trustformers::models
