// JSON in and out of template values. JsonDumps is Python's json.dumps as the chat templates'
// `tojson` filter calls it (transformers replaces jinja2's HTML-escaping filter with a plain
// json.dumps that takes ensure_ascii, indent, separators and sort_keys), so tool schemas and
// arguments render byte for byte as in Python. FromJson turns the request context into values.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // Absent: everything on one line. Present: a newline before each element, this string
  // repeated once per level (json.dumps turns an integer indent into that many spaces).
  std::optional<std::string> indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  // Longer output is INVALID_ARGUMENT (checked as it grows).
  size_t max_bytes = std::numeric_limits<size_t>::max();
};

// INVALID_ARGUMENT (Python's TypeError text) for values JSON cannot hold: Undefined, iterators,
// namespaces, macros.
absl::StatusOr<std::string> JsonDumps(const Value& value, const JsonDumpOptions& options);

// Objects keep their key order (ordered_json) or come sorted (json). Deeper nesting than
// `max_depth`, or integers beyond int64, are INVALID_ARGUMENT.
absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json, int max_depth);
absl::StatusOr<Value> FromJson(const nlohmann::json& json, int max_depth);

}  // namespace trustformers::tokenizers::jinja
