#include "server/auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace trustformers::server {
namespace {

constexpr size_t kMinKeyLength = 8;

// Debian's abseil has its own string_view, so its string helpers do not take std::string_view.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view TrimLeft(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  return text;
}

std::string_view Trim(std::string_view text) {
  text = TrimLeft(text);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

// The pieces of `text` between separators, empty ones included.
std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    pieces.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return pieces;
    start = end + 1;
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open API key file '", path, "'"));
  }
  std::string contents;
  char buffer[4096];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    contents.append(buffer, read);
  }
  // A folder opens fine on Linux and fails here, with EISDIR.
  if (std::ferror(file.get())) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read API key file '", path, "'"));
  }
  return contents;
}

// What is wrong with `key`, or empty when it is fine. Never includes the key.
std::string KeyProblem(std::string_view key) {
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) return "a key may hold only printable ASCII characters, no spaces";
  }
  if (key.size() < kMinKeyLength) {
    return absl::StrCat("a key must be at least ", kMinKeyLength, " characters long");
  }
  return "";
}

}  // namespace

absl::Status ApiKeys::AddKey(std::string_view key, std::string_view where) {
  if (std::string problem = KeyProblem(key); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(where), ": ", problem));
  }
  Digest digest;
  unsigned int length = 0;
  if (EVP_Digest(key.data(), key.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size()) {
    return absl::InternalError("SHA-256 of an API key failed in OpenSSL");
  }
  digests_.push_back(digest);
  return absl::OkStatus();
}

absl::StatusOr<ApiKeys> ApiKeys::Load(const std::string& keys_file,
                                      const std::string& env_var_name) {
  ApiKeys keys;
  if (!keys_file.empty()) {
    absl::StatusOr<std::string> contents = ReadFile(keys_file);
    if (!contents.ok()) return contents.status();
    int line_number = 0;
    for (std::string_view line : Split(*contents, '\n')) {
      ++line_number;
      // Trimming takes the '\r' of CRLF files too.
      line = Trim(line);
      if (line.empty() || line.front() == '#') continue;
      if (absl::Status status =
              keys.AddKey(line, absl::StrCat("API key file '", keys_file, "' line ", line_number));
          !status.ok()) {
        return status;
      }
    }
    if (!keys.enabled()) {
      return absl::InvalidArgumentError(
          absl::StrCat("API key file '", keys_file,
                       "' holds no key: add one key per line, or start the server without it"));
    }
  }
  if (!env_var_name.empty()) {
    // An empty variable counts as unset, as deployment templates often render one.
    if (const char* value = std::getenv(env_var_name.c_str()); value != nullptr) {
      int entry = 0;
      for (std::string_view key : Split(value, ',')) {
        ++entry;
        key = Trim(key);
        if (key.empty()) continue;
        if (absl::Status status = keys.AddKey(
                key, absl::StrCat("environment variable ", env_var_name, " entry ", entry));
            !status.ok()) {
          return status;
        }
      }
    }
  }
  return keys;
}

absl::Status ApiKeys::CheckAuthorization(std::string_view header_value) const {
  if (!enabled()) return absl::OkStatus();
  const std::string_view value = Trim(header_value);
  if (value.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send the header 'Authorization: Bearer <key>'");
  }
  // RFC 7235: credentials = auth-scheme [ 1*SP token68 ], the scheme case-insensitive; a tab
  // is taken as a space, as some clients send one.
  const size_t space = value.find_first_of(" \t");
  const std::string_view scheme = value.substr(0, space);
  if (!EqualsIgnoreCase(scheme, "Bearer")) {
    // The "scheme" may be a bare key sent without one, so it is not quoted back.
    return absl::UnauthenticatedError(
        "unsupported authorization scheme: send the header 'Authorization: Bearer <key>'");
  }
  const std::string_view key = space == std::string_view::npos ? "" : TrimLeft(value.substr(space));
  if (key.empty()) {
    return absl::UnauthenticatedError(
        "missing API key after 'Bearer': send the header 'Authorization: Bearer <key>'");
  }
  Digest digest;
  unsigned int length = 0;
  if (EVP_Digest(key.data(), key.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 of the presented API key failed in OpenSSL");
  }
  // Every digest is compared, without stopping at a match, so timing tells nothing about which.
  bool match = false;
  for (const Digest& known : digests_) {
    match |= CRYPTO_memcmp(known.data(), digest.data(), digest.size()) == 0;
  }
  if (!match) return absl::UnauthenticatedError("invalid API key");
  return absl::OkStatus();
}

}  // namespace trustformers::server
