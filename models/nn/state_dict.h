// A module's parameters to and from a safetensors file, under the names named_parameters()
// gives ("0.weight", "encoder.layer.0.attention.self.query.bias", ...): the names Hugging Face
// checkpoints use when the module mirrors their layout, so transformers can read what we save.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "models/nn/modules.h"

namespace trustformers::nn {

// Writes every parameter as F32 (with {"format": "pt"} metadata, as transformers writes), to a
// temporary file renamed into place, so a crash never leaves half a file under `path`.
absl::Status save_state_dict(const Module& module, const std::string& path);

// Copies the file's tensors into the module's parameters (F32, F16 or BF16 in the file). With
// `strict`, a parameter the file lacks or a tensor the module lacks is INVALID_ARGUMENT naming
// them; a shape that differs always is. Nothing is changed unless everything matches.
absl::Status load_state_dict(const Module& module, const std::string& path, bool strict = true);

}  // namespace trustformers::nn
