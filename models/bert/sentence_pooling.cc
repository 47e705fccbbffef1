#include "models/bert/sentence_pooling.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/loader/json_file.h"

namespace trustformers::models {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool Flag(const json& config, const char* key) {
  auto it = config.find(key);
  return it != config.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

absl::StatusOr<SentencePooling> ReadSentencePooling(const std::string& folder) {
  SentencePooling pooling;
  const fs::path modules_path = fs::path(folder) / "modules.json";
  if (!fs::exists(modules_path)) return pooling;
  absl::StatusOr<json> modules = ReadJsonFile(modules_path.string());
  if (!modules.ok()) return modules.status();
  if (!modules->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", modules_path.string(), "' must be a JSON array of modules"));
  }
  pooling.from_sentence_transformers = true;
  std::string pooling_dir;
  for (const json& module : *modules) {
    const std::string type = module.value("type", "");
    const std::string path = module.value("path", "");
    if (absl::EndsWith(type, "models.Pooling")) {
      pooling_dir = path;
    } else if (absl::EndsWith(type, "models.Normalize")) {
      pooling.normalize = true;
    } else if (!absl::EndsWith(type, "models.Transformer")) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", modules_path.string(), "': module type '", type,
                       "' is not supported (Transformer, Pooling and Normalize are)"));
    }
  }
  if (!pooling_dir.empty()) {
    if (fs::path(pooling_dir).is_absolute() || pooling_dir.find("..") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", modules_path.string(),
                                                     "': pooling path '", pooling_dir,
                                                     "' leaves the model folder"));
    }
    const fs::path config_path = fs::path(folder) / pooling_dir / "config.json";
    absl::StatusOr<json> config = ReadJsonFile(config_path.string());
    if (!config.ok()) return config.status();
    if (!config->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", config_path.string(), "' is not an object"));
    }
    std::vector<std::string> modes;
    for (const char* unsupported : {"pooling_mode_mean_sqrt_len_tokens",
                                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
      if (Flag(*config, unsupported)) modes.push_back(unsupported);
    }
    int chosen = 0;
    if (Flag(*config, "pooling_mode_cls_token")) {
      pooling.mode = backends::PoolingMode::kFirst;
      ++chosen;
    }
    if (Flag(*config, "pooling_mode_max_tokens")) {
      pooling.mode = backends::PoolingMode::kMax;
      ++chosen;
    }
    if (Flag(*config, "pooling_mode_mean_tokens")) {
      pooling.mode = backends::PoolingMode::kMean;
      ++chosen;
    }
    if (!modes.empty() || chosen != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", config_path.string(), "' must enable exactly one of pooling_mode_mean_tokens, ",
          "pooling_mode_cls_token and pooling_mode_max_tokens",
          modes.empty() ? "" : absl::StrCat(" (unsupported: ", absl::StrJoin(modes, ", "), ")")));
    }
  }
  const fs::path st_config = fs::path(folder) / "sentence_bert_config.json";
  if (fs::exists(st_config)) {
    absl::StatusOr<json> config = ReadJsonFile(st_config.string());
    if (!config.ok()) return config.status();
    if (auto it = config->find("max_seq_length"); it != config->end() && it->is_number_integer()) {
      pooling.max_seq_length = it->get<int64_t>();
    }
  }
  return pooling;
}

}  // namespace trustformers::models
