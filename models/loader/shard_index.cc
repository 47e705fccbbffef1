#include "models/loader/shard_index.h"

#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/loader/json_file.h"

namespace trustformers::models {

absl::StatusOr<ShardIndex> ReadShardIndex(const std::string& index_path) {
  namespace fs = std::filesystem;
  absl::StatusOr<nlohmann::json> index = ReadJsonFile(index_path);
  if (!index.ok()) return index.status();
  const nlohmann::json* weight_map =
      index->is_object() && index->contains("weight_map") ? &(*index)["weight_map"] : nullptr;
  if (weight_map == nullptr || !weight_map->is_object() || weight_map->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", index_path, "' has no \"weight_map\" object"));
  }
  ShardIndex result;
  std::set<std::string> shards;
  for (const auto& [tensor, file] : weight_map->items()) {
    if (!file.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", index_path, "': tensor '", tensor, "' maps to a non-string file"));
    }
    const std::string name = file.get<std::string>();
    if (name.empty() || fs::path(name).has_parent_path() || name == "." || name == "..") {
      return absl::InvalidArgumentError(absl::StrCat("'", index_path, "': tensor '", tensor,
                                                     "' names shard '", name,
                                                     "', which is not a plain file name"));
    }
    result.tensor_to_shard[tensor] = name;
    shards.insert(name);
  }
  const fs::path folder = fs::path(index_path).parent_path();
  for (const std::string& name : shards) result.shard_paths.push_back((folder / name).string());
  return result;
}

}  // namespace trustformers::models
