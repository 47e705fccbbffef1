// Process-wide logging through spdlog: human-readable text lines or one JSON object per line for
// log collectors, on standard error.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "config/config.h"

namespace trustformers::server {

// Installs the default logger. `level_override` (from --log-level) wins over the config when set.
absl::Status SetUpLogging(const config::LoggingConfig& logging, const std::string& level_override);

}  // namespace trustformers::server
