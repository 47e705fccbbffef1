// Delimited text as RFC 4180 defines it (CSV; TSV is the same with a tab): records end at a line
// break, fields that hold the delimiter, a quote or a line break are quoted, and a quote inside a
// quoted field is written twice. Each record carries the line it starts on, so errors about a
// record spanning several lines still point at its first line.
//
// Lenient where Python's csv module is, so files written by spreadsheets and pandas read the same:
// "\r\n" and "\n" both end a record, a quote in the middle of an unquoted field is a plain
// character, and a blank line is skipped rather than read as a record with one empty field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::training {

struct DelimitedRecord {
  int64_t line = 0;  // 1-based line of the record's first character
  std::vector<std::string> fields;
};

class DelimitedReader {
 public:
  // `contents` must outlive the reader; `file` names it in errors.
  DelimitedReader(absl::string_view contents, char delimiter, absl::string_view file,
                  size_t max_line_bytes);

  // Reads the next record into *record: true, or false after the last one. Errors are
  // INVALID_ARGUMENT LineErrors (line_error.h): a line over max_line_bytes or not UTF-8 (each line
  // is checked as the reader enters it, so the first bad line is the one reported), a quoted field
  // never closed (naming the line where it opens), or text between a closing quote and the next
  // delimiter. An error ends the reading: later calls return it again.
  absl::StatusOr<bool> Next(DelimitedRecord* record);

 private:
  // Bytes of the line break at `pos`: "\n" or "\r\n", or a bare "\r" ending the file; 0 if none.
  size_t LineBreakAt(size_t pos) const;
  // Checks the physical line that starts at pos_ (CheckLine in line_error.h).
  absl::Status EnterLine();
  // Consumes "\n" or "\r\n" at pos_ if there is one and enters the next line.
  absl::StatusOr<bool> ConsumeLineBreak();
  // Reads one field at pos_ into *field.
  absl::Status ReadField(std::string* field);

  absl::string_view contents_;
  char delimiter_;
  std::string file_;
  size_t max_line_bytes_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  bool entered_ = false;  // whether line 1 has been checked
  absl::Status failed_;
};

}  // namespace trustformers::training
