// Text-classification data files read into records: one text (or text pair) and its label, with
// the line it came from. Three formats, chosen by the file's extension:
//   .jsonl, .json  JSON Lines: one object per line, {"text": "...", "label": 2} or
//                  {"text": "...", "text_pair": "...", "label": "positive"}; blank lines are
//                  skipped and other keys ignored. "text" must be a string; "text_pair" a string
//                  or null (a pair with an empty second text when ""); "label" an integer id or a
//                  string name.
//   .csv, .tsv     RFC 4180 (csv_reader.h) with a header row naming the columns "text", "label"
//                  and optionally "text_pair" in any order; other columns are ignored. Every row
//                  has the header's number of fields. An empty text_pair field means no pair (CSV
//                  has no null). A label field is untyped (LabelValue::kField).
// A UTF-8 byte order mark at the start is skipped. Every problem is an INVALID_ARGUMENT LineError
// (line_error.h) naming the file, the first bad line and what is wrong; nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::training {

enum class TextFileFormat { kJsonLines, kCsv, kTsv };

// By extension, case-insensitively; INVALID_ARGUMENT for any other.
absl::StatusOr<TextFileFormat> FormatForPath(absl::string_view path);

// A label as the file wrote it; label_set.h turns it into a class id.
struct LabelValue {
  enum class Kind {
    kId,     // a JSON integer
    kName,   // a JSON string
    kField,  // a CSV/TSV field: a name, or an id when it is a decimal integer (see label_set.h)
  };
  Kind kind = Kind::kName;
  int64_t id = 0;    // kId
  std::string text;  // kName, kField
};

struct TextRecord {
  std::string text;
  std::optional<std::string> text_pair;
  LabelValue label;
  int64_t line = 0;  // 1-based line where the record starts
};

struct TextFileLimits {
  // A longer physical line is refused: no real example needs it, and it bounds what one JSON
  // parse or one CSV record costs.
  size_t max_line_bytes = size_t{1} << 20;  // 1 MiB
  // A larger file is refused before it is read. Records live in memory (and then their tokens),
  // so this bounds the memory a job can take; the job runner passes the server's upload limit.
  size_t max_file_bytes = size_t{512} << 20;  // 512 MiB
};

// Reads the file at `path` in the format its extension names. NOT_FOUND when it cannot be opened;
// INVALID_ARGUMENT for an unknown extension, a file over the limit, anything malformed, or no
// records at all.
absl::StatusOr<std::vector<TextRecord>> ReadTextRecords(const std::string& path,
                                                        const TextFileLimits& limits = {});

// The same for contents already in memory; `file` names them in errors.
absl::StatusOr<std::vector<TextRecord>> ParseTextRecords(absl::string_view contents,
                                                         TextFileFormat format,
                                                         absl::string_view file,
                                                         const TextFileLimits& limits = {});

}  // namespace trustformers::training
