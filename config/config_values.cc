#include "config/config_values.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace trustformers::config {
namespace {

constexpr std::array<absl::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};

bool IsDeviceIndex(absl::string_view text) {
  int index = 0;
  return !text.empty() && text.size() <= 3 && absl::SimpleAtoi(text, &index) && index >= 0 &&
         absl::ascii_isdigit(static_cast<unsigned char>(text.front()));
}

}  // namespace

std::string ListenAddressProblem(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) {
    return address.size() > 5 ? "" : "unix: address needs a socket path";
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::StrCat("'", address, "' is not host:port (for example 0.0.0.0:50051)");
  }
  absl::string_view host(address.data(), colon);
  if (host.front() == '[' && host.back() != ']') {
    return absl::StrCat("'", address, "': IPv6 host must be in brackets, like [::1]:50051");
  }
  absl::string_view port_text(address.data() + colon + 1, address.size() - colon - 1);
  int port = -1;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::StrCat("'", address, "': port must be a number from 0 to 65535");
  }
  return "";
}

std::string LogLevelProblem(const std::string& level) {
  for (absl::string_view known : kLogLevels) {
    if (level == known) return "";
  }
  return absl::StrCat("unknown log level '", level,
                      "'; expected trace, debug, info, warn, error, critical or off");
}

std::optional<LogFormat> ParseLogFormat(absl::string_view format) {
  if (format == "text") return LogFormat::kText;
  if (format == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string LogFormatProblem(const std::string& format) {
  return ParseLogFormat(format)
             ? ""
             : absl::StrCat("unknown log format '", format, "'; expected text or json");
}

std::string ModelNameProblem(const std::string& name) {
  if (name.empty() || name.size() > 128) {
    return "must be 1 to 128 characters long";
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name.front()))) {
    return absl::StrCat("'", name, "' must start with a letter or digit");
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '.' && c != '_' && c != ':' && c != '-') {
      return absl::StrCat("'", name, "' may contain only letters, digits and . _ : -");
    }
  }
  return "";
}

std::string DeviceProblem(const std::string& device) {
  if (device == "cpu") return "";
  for (absl::string_view prefix : {absl::string_view("cuda:"), absl::string_view("vulkan:")}) {
    if (absl::StartsWith(device, prefix) && IsDeviceIndex(device.substr(prefix.size()))) {
      return "";
    }
  }
  return absl::StrCat("unknown device '", device, "'; expected cpu, cuda:N or vulkan:N");
}

}  // namespace trustformers::config
