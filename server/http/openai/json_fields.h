// Typed reads of the fields of an OpenAI request body (already parsed JSON). A field that is
// absent or null is unset (SDKs send explicit nulls for parameters the caller did not give); a
// field of the wrong JSON type or out of its range fails with a ParamError naming it, so the
// client sees which field to fix. Unknown fields are never looked at: SDKs send extras.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace trustformers::server::openai {

// "a string", "a number", ...: how an error message names the JSON type of `value`.
std::string JsonTypeName(const nlohmann::json& value);

// Reads fields of one JSON object, keeping the first error: after it every read returns
// nullopt, so callers write `if (auto v = reader.Bool("x")) ...` for each field and check
// status() once at the end. Not thread-safe; the object must outlive the reader.
class FieldReader {
 public:
  // `prefix` is put before every key in error params, e.g. "stream_options.".
  explicit FieldReader(const nlohmann::json& object, std::string prefix = "");

  // The value under `key`, or nullptr when absent, null, or after an error.
  const nlohmann::json* Find(absl::string_view key);
  // Like Find, but records a missing_required_parameter error when absent or null.
  const nlohmann::json* Require(absl::string_view key);

  std::optional<bool> Bool(absl::string_view key);
  std::optional<std::string> String(absl::string_view key);
  // An integral number (5 or 5.0) in [min, max].
  std::optional<int64_t> Int(absl::string_view key, int64_t min, int64_t max);
  // A number in [min, max], or (min, max] with `min_exclusive`; NaN never passes.
  std::optional<float> Float(absl::string_view key, float min, float max,
                             bool min_exclusive = false);

  // Records `status` unless an error is already recorded.
  void Fail(absl::Status status);
  // Records a ParamError for `key` (the prefix is added).
  void Fail(absl::string_view key, absl::string_view code, absl::string_view message);
  // prefix + key: what an error for `key` names as its param.
  std::string Param(absl::string_view key) const;

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  absl::Status status_;
};

// `value` as a 32-bit integer in [min, max], or a ParamError for `param`.
absl::Status JsonToInt32(const nlohmann::json& value, absl::string_view param, int64_t min,
                         int64_t max, int32_t* out);

// A non-empty array of integral numbers in [0, 2^31) (token ids), or a ParamError for `param`
// (an element's error names "param[i]").
absl::Status JsonToTokenIds(const nlohmann::json& value, absl::string_view param,
                            std::vector<int32_t>* out);

// True for an array whose elements are all integral numbers: how `prompt` and `input` tell a
// token-id list from a list of texts.
bool IsIntegerArray(const nlohmann::json& value);

}  // namespace trustformers::server::openai
