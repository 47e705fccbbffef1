#include "models/loader/model_source.h"

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/loader/json_file.h"
#include "models/loader/shard_index.h"
#include "nlohmann/json.hpp"

namespace trustformers::models {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool IsPickleName(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".pkl" || ext == ".ckpt";
}

absl::Status PickleRefusal(const fs::path& path) {
  return absl::InvalidArgumentError(absl::StrCat(
      "'", path.string(),
      "' is a pickle checkpoint; trustformers does not load pickle files because unpickling runs "
      "arbitrary code. Convert it to safetensors (for example with transformers: "
      "model.save_pretrained(dir, safe_serialization=True)) or to GGUF"));
}

absl::StatusOr<ModelSource> InspectFolder(const fs::path& dir) {
  ModelSource source;
  source.format = ModelFormat::kHfSafetensors;
  source.path = dir.string();

  const fs::path config_path = dir / "config.json";
  if (!fs::is_regular_file(config_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", dir.string(), "' has no config.json; a Hugging Face model folder needs one"));
  }
  absl::StatusOr<json> config = ReadJsonFile(config_path.string());
  if (!config.ok()) return config.status();
  if (!config->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", config_path.string(), "' must hold a JSON object"));
  }
  if (auto it = config->find("architectures");
      it != config->end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    source.architecture = (*it)[0].get<std::string>();
  } else if (auto type = config->find("model_type"); type != config->end() && type->is_string()) {
    source.architecture = type->get<std::string>();
  }

  if (fs::is_regular_file(dir / "model.safetensors")) {
    source.weight_files = {(dir / "model.safetensors").string()};
  } else if (fs::is_regular_file(dir / "model.safetensors.index.json")) {
    absl::StatusOr<ShardIndex> index =
        ReadShardIndex((dir / "model.safetensors.index.json").string());
    if (!index.ok()) return index.status();
    source.weight_files = std::move(index->shard_paths);
  } else {
    for (const char* pickle : {"pytorch_model.bin", "pytorch_model.bin.index.json"}) {
      if (fs::exists(dir / pickle)) return PickleRefusal(dir / pickle);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "'", dir.string(), "' has neither model.safetensors nor model.safetensors.index.json"));
  }
  for (const std::string& file : source.weight_files) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight file '", file, "' cannot be read: ", ec.message()));
    }
    source.weight_bytes += static_cast<int64_t>(size);
  }
  return source;
}

absl::StatusOr<ModelSource> InspectGgufFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::array<char, 8> header{};
  if (!in.read(header.data(), header.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", file.string(), "' is shorter than a GGUF header (8 bytes)"));
  }
  // torch.save writes a zip archive (PyTorch >= 1.6) or a raw pickle stream (protocol opcode 0x80).
  if (std::memcmp(header.data(), "PK\x03\x04", 4) == 0 || static_cast<uint8_t>(header[0]) == 0x80) {
    return PickleRefusal(file);
  }
  if (std::memcmp(header.data(), "GGUF", 4) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", file.string(), "' does not start with the GGUF magic bytes; not a GGUF file"));
  }
  uint32_t version = 0;
  std::memcpy(&version, header.data() + 4, sizeof(version));  // little-endian, like the host
  if (version != 2 && version != 3) {
    return absl::InvalidArgumentError(absl::StrCat("'", file.string(), "' is GGUF version ",
                                                   version, "; versions 2 and 3 are supported"));
  }
  ModelSource source;
  source.format = ModelFormat::kGguf;
  source.path = file.string();
  source.weight_files = {file.string()};
  source.weight_bytes = static_cast<int64_t>(fs::file_size(file));
  source.gguf_version = version;
  return source;
}

}  // namespace

absl::StatusOr<ModelSource> InspectModelSource(const std::string& path_text) {
  std::error_code ec;
  const fs::path path = fs::absolute(path_text, ec).lexically_normal();
  if (ec || !fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model path '", path_text, "' does not exist"));
  }
  if (fs::is_directory(path)) return InspectFolder(path);
  if (IsPickleName(path)) return PickleRefusal(path);
  if (!fs::is_regular_file(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model path '", path_text, "' is neither a folder nor a file"));
  }
  if (path.extension() == ".safetensors") {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path_text,
                     "' is a bare safetensors file; point to the folder that holds it with "
                     "its config.json and tokenizer.json"));
  }
  return InspectGgufFile(path);
}

}  // namespace trustformers::models
