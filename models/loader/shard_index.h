// model.safetensors.index.json: which shard file holds each tensor of a sharded checkpoint.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace trustformers::models {

struct ShardIndex {
  // Tensor name -> shard file name (a plain name beside the index).
  std::map<std::string, std::string> tensor_to_shard;
  // Full paths of the distinct shards, sorted.
  std::vector<std::string> shard_paths;
};

// INVALID_ARGUMENT for malformed JSON, a missing or empty "weight_map", non-string entries, or a
// shard name that is not a plain file name (no path may leave the model folder).
absl::StatusOr<ShardIndex> ReadShardIndex(const std::string& index_path);

}  // namespace trustformers::models
