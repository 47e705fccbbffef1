// Errors about one line of a data file. The message starts "file:line: " like a compiler's, and
// the line also travels as a status payload, so the fine-tuning job runner can fill JobError.line
// and ValidationIssue.line without parsing messages. Line 0 means the whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trustformers::training {

// INVALID_ARGUMENT (or `code`) "file:line: what" ("file: what" for line 0) carrying `line`.
absl::Status LineError(absl::string_view file, int64_t line, absl::string_view what,
                       absl::StatusCode code = absl::StatusCode::kInvalidArgument);

// The line a LineError carries; nullopt for any other status.
std::optional<int64_t> ErrorLine(const absl::Status& status);

// Checks one physical line (without its line break) before it is parsed: at most max_bytes bytes,
// and well-formed UTF-8 (naming the 1-based column of the first bad byte).
absl::Status CheckLine(absl::string_view text, absl::string_view file, int64_t line,
                       size_t max_bytes);

}  // namespace trustformers::training
