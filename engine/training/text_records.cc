#include "engine/training/text_records.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/training/csv_reader.h"
#include "engine/training/line_error.h"
#include "nlohmann/json.hpp"

namespace trustformers::training {
namespace {

using nlohmann::json;

constexpr absl::string_view kByteOrderMark = "\xEF\xBB\xBF";

// nlohmann's message after its "[json.exception...] parse error at line 1, column 7: " prefix:
// the line and column it names are those of the one-line parse, so we give our own.
std::string ParseErrorReason(absl::string_view what) {
  const size_t column = what.find("column ");
  if (column != absl::string_view::npos) {
    const size_t colon = what.find(": ", column);
    if (colon != absl::string_view::npos) return std::string(what.substr(colon + 2));
  }
  return std::string(what);
}

// "a string", "an array", "null": what a value is, for messages.
std::string Describe(const json& value) {
  if (value.is_null()) return "null";
  const std::string type = value.type_name();
  return (type == "array" || type == "object" ? "an " : "a ") + type;
}

absl::StatusOr<LabelValue> JsonLabel(const json& label, absl::string_view file, int64_t line) {
  LabelValue value;
  if (label.is_string()) {
    value.kind = LabelValue::Kind::kName;
    value.text = label.get<std::string>();
    return value;
  }
  if (label.is_number_unsigned()) {
    const uint64_t id = label.get<uint64_t>();
    if (id > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return LineError(file, line, absl::StrCat("label ", id, " is out of range"));
    }
    value.kind = LabelValue::Kind::kId;
    value.id = static_cast<int64_t>(id);
    return value;
  }
  if (label.is_number_integer()) {
    value.kind = LabelValue::Kind::kId;
    value.id = label.get<int64_t>();
    return value;
  }
  if (label.is_number_float()) {
    return LineError(file, line,
                     absl::StrCat("\"label\" must be an integer id or a string name, not the "
                                  "number ",
                                  label.dump(), " (regression labels are not supported)"));
  }
  return LineError(
      file, line,
      absl::StrCat("\"label\" must be an integer id or a string name, not ", Describe(label)));
}

absl::StatusOr<TextRecord> ParseJsonRecord(absl::string_view text, absl::string_view file,
                                           int64_t line) {
  json object;
  try {
    object = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based byte where parsing stopped.
    return LineError(
        file, line,
        absl::StrCat("invalid JSON at column ", e.byte, ": ", ParseErrorReason(e.what())));
  } catch (const json::exception& e) {
    return LineError(file, line, absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!object.is_object()) {
    return LineError(
        file, line,
        absl::StrCat("expected one JSON object per line (JSON Lines), not ", Describe(object)));
  }
  TextRecord record;
  record.line = line;
  const auto text_field = object.find("text");
  if (text_field == object.end()) return LineError(file, line, "missing \"text\"");
  if (!text_field->is_string()) {
    return LineError(file, line,
                     absl::StrCat("\"text\" must be a string, not ", Describe(*text_field)));
  }
  record.text = text_field->get<std::string>();
  if (const auto pair = object.find("text_pair"); pair != object.end() && !pair->is_null()) {
    if (!pair->is_string()) {
      return LineError(file, line,
                       absl::StrCat("\"text_pair\" must be a string, not ", Describe(*pair)));
    }
    record.text_pair = pair->get<std::string>();
  }
  const auto label = object.find("label");
  if (label == object.end()) return LineError(file, line, "missing \"label\"");
  absl::StatusOr<LabelValue> value = JsonLabel(*label, file, line);
  if (!value.ok()) return value.status();
  record.label = *std::move(value);
  return record;
}

absl::StatusOr<std::vector<TextRecord>> ParseJsonLines(absl::string_view contents,
                                                       absl::string_view file,
                                                       const TextFileLimits& limits) {
  std::vector<TextRecord> records;
  int64_t line = 0;
  size_t pos = 0;
  while (pos < contents.size()) {
    ++line;
    size_t end = contents.find('\n', pos);
    if (end == absl::string_view::npos) end = contents.size();
    const absl::string_view text = contents.substr(pos, end - pos);
    pos = end + 1;
    if (absl::Status status = CheckLine(text, file, line, limits.max_line_bytes); !status.ok()) {
      return status;
    }
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    absl::StatusOr<TextRecord> record = ParseJsonRecord(text, file, line);
    if (!record.ok()) return record.status();
    records.push_back(*std::move(record));
  }
  if (records.empty()) {
    return LineError(file, 0, "no examples: the file is empty or has only blank lines");
  }
  return records;
}

// Where the columns we read sit in each row.
struct CsvColumns {
  size_t count = 0;
  std::optional<size_t> text, label, text_pair;
};

absl::StatusOr<CsvColumns> ReadHeader(const DelimitedRecord& header, absl::string_view file) {
  CsvColumns columns;
  columns.count = header.fields.size();
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string& name = header.fields[i];
    std::optional<size_t>* slot = name == "text"        ? &columns.text
                                  : name == "label"     ? &columns.label
                                  : name == "text_pair" ? &columns.text_pair
                                                        : nullptr;
    if (slot == nullptr) continue;  // a column we do not use
    if (slot->has_value()) {
      return LineError(file, header.line, absl::StrCat("the header names \"", name, "\" twice"));
    }
    *slot = i;
  }
  if (!columns.text.has_value() || !columns.label.has_value()) {
    return LineError(file, header.line,
                     absl::StrCat("the header must name the columns \"text\" and \"label\" (and "
                                  "optionally \"text_pair\"); it has \"",
                                  absl::StrJoin(header.fields, "\", \""), "\""));
  }
  return columns;
}

absl::StatusOr<std::vector<TextRecord>> ParseDelimited(absl::string_view contents, char delimiter,
                                                       absl::string_view file,
                                                       const TextFileLimits& limits) {
  DelimitedReader reader(contents, delimiter, file, limits.max_line_bytes);
  DelimitedRecord row;
  absl::StatusOr<bool> more = reader.Next(&row);
  if (!more.ok()) return more.status();
  if (!*more) return LineError(file, 0, "no header row: the file is empty or has only blank lines");
  absl::StatusOr<CsvColumns> columns = ReadHeader(row, file);
  if (!columns.ok()) return columns.status();
  const int64_t header_line = row.line;

  std::vector<TextRecord> records;
  while (true) {
    more = reader.Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (row.fields.size() != columns->count) {
      return LineError(
          file, row.line,
          absl::StrCat("the row has ", row.fields.size(), " fields, but the header (line ",
                       header_line, ") has ", columns->count));
    }
    TextRecord record;
    record.line = row.line;
    record.text = std::move(row.fields[*columns->text]);
    if (columns->text_pair.has_value() && !row.fields[*columns->text_pair].empty()) {
      record.text_pair = std::move(row.fields[*columns->text_pair]);
    }
    std::string& label = row.fields[*columns->label];
    if (label.empty()) return LineError(file, row.line, "the label is empty");
    record.label.kind = LabelValue::Kind::kField;
    record.label.text = std::move(label);
    records.push_back(std::move(record));
  }
  if (records.empty()) return LineError(file, 0, "no examples: the file has only a header row");
  return records;
}

}  // namespace

absl::StatusOr<TextFileFormat> FormatForPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const absl::string_view name = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  const std::string extension =
      dot == absl::string_view::npos ? "" : absl::AsciiStrToLower(name.substr(dot));
  if (extension == ".jsonl" || extension == ".json") return TextFileFormat::kJsonLines;
  if (extension == ".csv") return TextFileFormat::kCsv;
  if (extension == ".tsv") return TextFileFormat::kTsv;
  return absl::InvalidArgumentError(
      absl::StrCat(path,
                   ": unknown data file format; name it .jsonl (or .json) for JSON Lines, "
                   ".csv or .tsv"));
}

absl::StatusOr<std::vector<TextRecord>> ParseTextRecords(absl::string_view contents,
                                                         TextFileFormat format,
                                                         absl::string_view file,
                                                         const TextFileLimits& limits) {
  if (contents.size() > limits.max_file_bytes) {
    return LineError(file, 0,
                     absl::StrCat("the file has ", contents.size(),
                                  " bytes, more than the limit of ", limits.max_file_bytes));
  }
  if (absl::StartsWith(contents, kByteOrderMark)) contents.remove_prefix(kByteOrderMark.size());
  switch (format) {
    case TextFileFormat::kJsonLines:
      return ParseJsonLines(contents, file, limits);
    case TextFileFormat::kCsv:
      return ParseDelimited(contents, ',', file, limits);
    case TextFileFormat::kTsv:
      return ParseDelimited(contents, '\t', file, limits);
  }
  return absl::InternalError("unknown TextFileFormat");
}

absl::StatusOr<std::vector<TextRecord>> ReadTextRecords(const std::string& path,
                                                        const TextFileLimits& limits) {
  absl::StatusOr<TextFileFormat> format = FormatForPath(path);
  if (!format.ok()) return format.status();
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", error.message()));
  // Checked before reading so that a huge file costs nothing.
  if (size > limits.max_file_bytes) {
    return LineError(path, 0,
                     absl::StrCat("the file has ", size, " bytes, more than the limit of ",
                                  limits.max_file_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::string contents((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) return absl::NotFoundError(absl::StrCat(path, ": read failed"));
  return ParseTextRecords(contents, *format, path, limits);
}

}  // namespace trustformers::training
