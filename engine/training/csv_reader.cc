#include "engine/training/csv_reader.h"

#include <utility>

#include "engine/training/line_error.h"

namespace trustformers::training {

DelimitedReader::DelimitedReader(absl::string_view contents, char delimiter, absl::string_view file,
                                 size_t max_line_bytes)
    : contents_(contents), delimiter_(delimiter), file_(file), max_line_bytes_(max_line_bytes) {}

absl::Status DelimitedReader::EnterLine() {
  if (pos_ >= contents_.size()) return absl::OkStatus();
  size_t end = contents_.find('\n', pos_);
  if (end == absl::string_view::npos) end = contents_.size();
  return CheckLine(contents_.substr(pos_, end - pos_), file_, line_, max_line_bytes_);
}

size_t DelimitedReader::LineBreakAt(size_t pos) const {
  if (contents_.substr(pos, 1) == "\n") return 1;
  if (contents_.substr(pos, 2) == "\r\n") return 2;
  // A file whose last line ends in a bare "\r" (its "\n" lost) ends the same.
  if (pos + 1 == contents_.size() && contents_[pos] == '\r') return 1;
  return 0;
}

absl::StatusOr<bool> DelimitedReader::ConsumeLineBreak() {
  const size_t length = LineBreakAt(pos_);
  if (length == 0) return false;
  pos_ += length;
  ++line_;
  if (absl::Status status = EnterLine(); !status.ok()) return status;
  return true;
}

absl::Status DelimitedReader::ReadField(std::string* field) {
  field->clear();
  if (pos_ >= contents_.size() || contents_[pos_] != '"') {
    // Unquoted: up to the delimiter or the line break; quotes here are plain characters.
    while (pos_ < contents_.size()) {
      const char c = contents_[pos_];
      if (c == delimiter_ || LineBreakAt(pos_) > 0) break;
      field->push_back(c);
      ++pos_;
    }
    return absl::OkStatus();
  }
  const int64_t opened_on = line_;
  ++pos_;
  while (true) {
    if (pos_ >= contents_.size()) {
      return LineError(file_, opened_on,
                       "unbalanced quotes: the quoted field that opens on this line is never "
                       "closed");
    }
    const char c = contents_[pos_];
    if (c == '"') {
      if (contents_.substr(pos_ + 1, 1) != "\"") break;
      field->push_back('"');  // "" stands for one quote
      pos_ += 2;
      continue;
    }
    field->push_back(c);
    ++pos_;
    if (c == '\n') {
      ++line_;
      if (absl::Status status = EnterLine(); !status.ok()) return status;
    }
  }
  ++pos_;  // the closing quote
  if (pos_ < contents_.size() && contents_[pos_] != delimiter_ && LineBreakAt(pos_) == 0) {
    return LineError(file_, line_,
                     "unexpected text after the closing quote of a field (a quote inside a quoted "
                     "field is written twice: \"\")");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> DelimitedReader::Next(DelimitedRecord* record) {
  if (!failed_.ok()) return failed_;
  const auto fail = [this](absl::Status status) {
    failed_ = std::move(status);
    return failed_;
  };
  if (!entered_) {
    entered_ = true;
    if (absl::Status status = EnterLine(); !status.ok()) return fail(std::move(status));
  }
  // Blank lines are not records.
  while (true) {
    if (pos_ >= contents_.size()) return false;
    absl::StatusOr<bool> blank = ConsumeLineBreak();
    if (!blank.ok()) return fail(blank.status());
    if (!*blank) break;
  }
  record->line = line_;
  record->fields.clear();
  std::string field;
  while (true) {
    if (absl::Status status = ReadField(&field); !status.ok()) return fail(std::move(status));
    record->fields.push_back(std::move(field));
    if (pos_ < contents_.size() && contents_[pos_] == delimiter_) {
      ++pos_;
      continue;
    }
    absl::StatusOr<bool> ended = ConsumeLineBreak();  // or the end of the contents
    if (!ended.ok()) return fail(ended.status());
    return true;
  }
}

}  // namespace trustformers::training
