// Checks for individual configuration values, shared by the YAML loader and by callers that build
// a Config in code. Each *Problem function returns "" for a valid value, else the reason.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "config/config.h"

namespace trustformers::config {

// "host:port", "[v6addr]:port" or "unix:/path"; port 0..65535.
std::string ListenAddressProblem(const std::string& address);

// One of spdlog's level names: trace, debug, info, warn, error, critical, off.
std::string LogLevelProblem(const std::string& level);

std::string LogFormatProblem(const std::string& format);
std::optional<LogFormat> ParseLogFormat(absl::string_view format);

// 1 to 128 characters from [A-Za-z0-9._:-], starting with a letter or digit.
std::string ModelNameProblem(const std::string& name);

// "cpu", "cuda:N" or "vulkan:N".
std::string DeviceProblem(const std::string& device);

}  // namespace trustformers::config
