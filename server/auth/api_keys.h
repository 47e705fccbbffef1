// The API keys both front ends accept: loaded once at start-up from a file and/or an environment
// variable, checked on every request against the `Authorization` header (HTTP) or metadata
// (gRPC). Only SHA-256 digests of the keys are kept, and a presented key is compared with every
// digest in constant time, so neither memory dumps nor response timing give a key away.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace trustformers::server {

class ApiKeys {
 public:
  // No keys: authentication is disabled and every request is allowed.
  ApiKeys() = default;

  // Reads the keys from `keys_file` (skipped when empty): one key per line, blank lines and lines
  // starting with '#' ignored, surrounding whitespace trimmed; and from the environment variable
  // `env_var_name` (skipped when empty or unset): keys separated by commas, empty entries ignored.
  // Both sources add up. A key must be at least 8 printable ASCII characters without spaces
  // (gRPC metadata carries nothing else). Errors, which never quote a key:
  //   a file that cannot be read: NOT_FOUND / PERMISSION_DENIED / INTERNAL naming the path and
  //   the OS reason; a file without any key: INVALID_ARGUMENT (a server started with auth that
  //   accepts nobody is misconfigured); a malformed key: INVALID_ARGUMENT naming the file and line
  //   or the variable and entry.
  static absl::StatusOr<ApiKeys> Load(const std::string& keys_file,
                                      const std::string& env_var_name);

  // True when at least one key is configured.
  bool enabled() const { return !digests_.empty(); }

  // Checks the value of an `Authorization` header: "Bearer <key>", the scheme in any case.
  // OK when disabled or when the key is known; otherwise UNAUTHENTICATED with a message for the
  // client (the header missing or empty, another scheme, no key after the scheme, or an unknown
  // key).
  absl::Status CheckAuthorization(std::string_view header_value) const;

 private:
  using Digest = std::array<unsigned char, 32>;

  absl::Status AddKey(std::string_view key, std::string_view where);

  std::vector<Digest> digests_;
};

}  // namespace trustformers::server
