// Reading the small JSON files that sit beside model weights (config.json, indexes, tokenizer
// and pooling configs), with a size cap so a hostile file cannot exhaust memory.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace trustformers::models {

inline constexpr uint64_t kMaxJsonFileBytes = 64 * 1024 * 1024;

// NOT_FOUND when unreadable; INVALID_ARGUMENT when too large or not valid JSON.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace trustformers::models
