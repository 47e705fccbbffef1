#include "server/auth/api_keys.h"

#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "unit/temp_dir.h"

namespace trustformers::server {
namespace {

using testing::TempDir;

// Sets an environment variable for one test and removes it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
};

ApiKeys LoadOk(const std::string& file, const std::string& env) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::Load(file, env);
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return *std::move(keys);
}

bool Accepts(const ApiKeys& keys, const std::string& key) {
  return keys.CheckAuthorization("Bearer " + key).ok();
}

TEST_CASE("api keys: file with comments, blank lines and CRLF endings", "[api_keys]") {
  TempDir dir;
  const auto file = dir.Write("keys.txt",
                              "# keys for the staging cluster\r\n"
                              "\r\n"
                              "  first-key-0001  \r\n"
                              "\t\r\n"
                              "   # an indented comment\n"
                              "second-key-0002\n"
                              "third-key-0003");  // no final newline
  const ApiKeys keys = LoadOk(file.string(), "");
  CHECK(keys.enabled());
  CHECK(Accepts(keys, "first-key-0001"));
  CHECK(Accepts(keys, "second-key-0002"));
  CHECK(Accepts(keys, "third-key-0003"));
  CHECK_FALSE(Accepts(keys, "# keys for the staging cluster"));
  CHECK_FALSE(Accepts(keys, "first-key-000"));
}

TEST_CASE("api keys: environment variable, comma-separated", "[api_keys]") {
  ScopedEnv env("TF_TEST_API_KEYS_ENV", " env-key-0001 , ,env-key-0002,");
  const ApiKeys keys = LoadOk("", "TF_TEST_API_KEYS_ENV");
  CHECK(keys.enabled());
  CHECK(Accepts(keys, "env-key-0001"));
  CHECK(Accepts(keys, "env-key-0002"));
  CHECK_FALSE(Accepts(keys, "env-key-0003"));
}

TEST_CASE("api keys: file and environment add up", "[api_keys]") {
  TempDir dir;
  const auto file = dir.Write("keys", "file-key-0001\n");
  ScopedEnv env("TF_TEST_API_KEYS_BOTH", "env-key-0001");
  const ApiKeys keys = LoadOk(file.string(), "TF_TEST_API_KEYS_BOTH");
  CHECK(Accepts(keys, "file-key-0001"));
  CHECK(Accepts(keys, "env-key-0001"));
}

TEST_CASE("api keys: disabled when nothing is configured", "[api_keys]") {
  CHECK_FALSE(LoadOk("", "").enabled());
  ::unsetenv("TF_TEST_API_KEYS_UNSET");
  CHECK_FALSE(LoadOk("", "TF_TEST_API_KEYS_UNSET").enabled());
  {
    ScopedEnv empty("TF_TEST_API_KEYS_EMPTY", " , ");
    CHECK_FALSE(LoadOk("", "TF_TEST_API_KEYS_EMPTY").enabled());
  }
  const ApiKeys disabled;
  CHECK_FALSE(disabled.enabled());
  CHECK(disabled.CheckAuthorization("").ok());
  CHECK(disabled.CheckAuthorization("Basic anything").ok());
  CHECK(disabled.CheckAuthorization("Bearer whatever").ok());
}

TEST_CASE("api keys: a missing or unreadable file names the path and the reason", "[api_keys]") {
  TempDir dir;
  const std::string missing = (dir.path() / "no-such-keys").string();
  absl::Status status = ApiKeys::Load(missing, "").status();
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(status.message()), Catch::Contains(missing));
  CHECK_THAT(std::string(status.message()), Catch::Contains("No such file or directory"));

  status = ApiKeys::Load(dir.path().string(), "").status();
  CHECK_FALSE(status.ok());
  CHECK_THAT(std::string(status.message()), Catch::Contains(dir.path().string()));
  CHECK_THAT(std::string(status.message()), Catch::Contains("directory"));
}

TEST_CASE("api keys: a file without keys is a misconfiguration", "[api_keys]") {
  TempDir dir;
  for (const char* contents : {"", "\n\n", "# only a comment\r\n  \r\n"}) {
    const auto file = dir.Write("empty-keys", contents);
    const absl::Status status = ApiKeys::Load(file.string(), "").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()), Catch::Contains(file.string()));
    CHECK_THAT(std::string(status.message()), Catch::Contains("no key"));
  }
}

TEST_CASE("api keys: malformed keys name the line, never the key", "[api_keys]") {
  TempDir dir;
  struct Case {
    std::string contents;
    std::string secret;
    std::string where;
  };
  for (const Case& c : {Case{"good-key-0001\n# c\nshort7\n", "short7", "line 3"},
                        Case{"inner space-key\n", "inner space-key", "line 1"},
                        Case{"ok-key-00001\r\nctrl\x01key-0001\n", "ctrl\x01key", "line 2"},
                        Case{"caf\xc3\xa9-key-0001\n", "caf\xc3\xa9", "line 1"}}) {
    const auto file = dir.Write("bad-keys", c.contents);
    const absl::Status status = ApiKeys::Load(file.string(), "").status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()), Catch::Contains(c.where));
    CHECK_THAT(std::string(status.message()), !Catch::Contains(c.secret));
  }

  ScopedEnv env("TF_TEST_API_KEYS_BAD", "good-key-0001,tiny");
  const absl::Status status = ApiKeys::Load("", "TF_TEST_API_KEYS_BAD").status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("TF_TEST_API_KEYS_BAD entry 2"));
  CHECK_THAT(std::string(status.message()), !Catch::Contains("tiny"));
}

TEST_CASE("api keys: Authorization header variants", "[api_keys]") {
  ScopedEnv env("TF_TEST_API_KEYS_HEADER", "secret-key-0001,secret-key-0002");
  const ApiKeys keys = LoadOk("", "TF_TEST_API_KEYS_HEADER");

  for (const char* header :
       {"Bearer secret-key-0001", "bearer secret-key-0001", "BEARER secret-key-0002",
        "  Bearer    secret-key-0001  ", "Bearer\tsecret-key-0002"}) {
    INFO(header);
    CHECK(keys.CheckAuthorization(header).ok());
  }

  auto check = [&](const char* header, const std::string& message) {
    INFO(header);
    const absl::Status status = keys.CheckAuthorization(header);
    CHECK(status.code() == absl::StatusCode::kUnauthenticated);
    CHECK(status.message() == message);
  };
  check("", "missing API key: send the header 'Authorization: Bearer <key>'");
  check("   ", "missing API key: send the header 'Authorization: Bearer <key>'");
  check("Bearer", "missing API key after 'Bearer': send the header 'Authorization: Bearer <key>'");
  check("Bearer   ",
        "missing API key after 'Bearer': send the header 'Authorization: Bearer <key>'");
  // A bare key or another scheme: the message must not echo what was sent.
  for (const char* header : {"secret-key-0001", "Basic c2VjcmV0LWtleQ==", "Token secret-key-0001",
                             "Bearersecret-key-0001", "Bearer: secret-key-0001"}) {
    check(header,
          "unsupported authorization scheme: send the header 'Authorization: Bearer <key>'");
  }
  check("Bearer secret-key-0003", "invalid API key");
  check("Bearer secret-key-000", "invalid API key");
  check("Bearer secret-key-0001 extra", "invalid API key");
}

}  // namespace
}  // namespace trustformers::server
