// Reads the YAML configuration into config::Config. Strict: an unknown key, a value of the wrong
// type or an invalid value fails with the file, line, column and dotted key path named, so a typo
// never silently falls back to a default.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace trustformers::config {

// Parses YAML text; `source_name` is used in error messages (usually the file path).
absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name);

// Reads and parses a file. NOT_FOUND when it cannot be read, INVALID_ARGUMENT when it is wrong.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Checks values that are well-typed but unusable (bad address, duplicate model names, ...).
absl::Status ValidateConfig(const Config& config, absl::string_view source_name);

}  // namespace trustformers::config
