#include "engine/training/line_error.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tokenizers/utf8.h"

namespace trustformers::training {
namespace {

// Payload type URL; only this file reads or writes it.
constexpr char kLinePayload[] = "trustformers.training/line";

}  // namespace

absl::Status LineError(absl::string_view file, int64_t line, absl::string_view what,
                       absl::StatusCode code) {
  absl::Status status(
      code, line > 0 ? absl::StrCat(file, ":", line, ": ", what) : absl::StrCat(file, ": ", what));
  status.SetPayload(kLinePayload, absl::Cord(absl::StrCat(line)));
  return status;
}

std::optional<int64_t> ErrorLine(const absl::Status& status) {
  const auto payload = status.GetPayload(kLinePayload);  // absl::optional, not std:: on Debian
  int64_t line = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &line)) return std::nullopt;
  return line;
}

absl::Status CheckLine(absl::string_view text, absl::string_view file, int64_t line,
                       size_t max_bytes) {
  if (text.size() > max_bytes) {
    return LineError(
        file, line,
        absl::StrCat("the line has ", text.size(), " bytes, more than the limit of ", max_bytes));
  }
  if (absl::Status utf8 = tokenizers::ValidateUtf8(text); !utf8.ok()) {
    // The tokenizer says "text is not valid UTF-8: ... at byte offset N ..."; here the text is
    // the line, and the offset counts from its start.
    absl::string_view detail = utf8.message();
    absl::ConsumePrefix(&detail, "text is not valid UTF-8: ");
    return LineError(file, line,
                     absl::StrCat("the line is not valid UTF-8: ", detail,
                                  " (offsets count from "
                                  "the start of the line)"));
  }
  return absl::OkStatus();
}

}  // namespace trustformers::training
