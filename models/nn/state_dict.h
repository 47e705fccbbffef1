// A module's parameters to and from a safetensors file, under the names named_parameters()
// gives ("0.weight", "encoder.layer.0.attention.self.query.bias", ...): the names Hugging Face
// checkpoints use when the module mirrors their layout, so transformers can read what we save.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "models/nn/modules.h"

namespace trustformers::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes every parameter as F32 (with {"format": "pt"} metadata, as transformers writes),
// durably (models/nn/durable_file.h): a crash never leaves half a file under `path`.
absl::Status save_state_dict(const Module& module, const std::string& path);
// The same for any named tensors (optimizer moments in a checkpoint), and the file's bytes.
absl::Status save_tensors(const NamedTensors& tensors, const std::string& path);
std::string safetensors_bytes(const NamedTensors& tensors);

// Copies the file's tensors into the module's parameters (F32, F16 or BF16 in the file). With
// `strict`, a parameter the file lacks or a tensor the module lacks is INVALID_ARGUMENT naming
// them; a shape that differs always is. Nothing is changed unless everything matches.
absl::Status load_state_dict(const Module& module, const std::string& path, bool strict = true);
// The same into any named tensors of the right shapes.
absl::Status load_tensors(const NamedTensors& tensors, const std::string& path, bool strict = true);

}  // namespace trustformers::nn
