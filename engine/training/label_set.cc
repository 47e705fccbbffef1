#include "engine/training/label_set.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/training/line_error.h"

namespace trustformers::training {
namespace {

// How many names an "unknown label" message lists before it stops.
constexpr size_t kNamesInMessages = 20;

// A decimal integer as a CSV/TSV label field: an optional '-' and digits, nothing else (no '+',
// spaces or exponent, which SimpleAtoi alone would allow).
bool IsDecimalInteger(absl::string_view text) {
  if (!text.empty() && text[0] == '-') text.remove_prefix(1);
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// The id a label holds as an integer: nullopt for a name; an error for an integer too large
// for int64.
absl::StatusOr<std::optional<int64_t>> IntegerOf(const LabelValue& label, absl::string_view file,
                                                 int64_t line) {
  if (label.kind == LabelValue::Kind::kId) return std::optional<int64_t>(label.id);
  if (label.kind == LabelValue::Kind::kName || !IsDecimalInteger(label.text)) {
    return std::optional<int64_t>();
  }
  int64_t id = 0;
  if (!absl::SimpleAtoi(label.text, &id)) {
    return LineError(file, line, absl::StrCat("label ", label.text, " is out of range"));
  }
  return std::optional<int64_t>(id);
}

std::string ListNames(const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size() && i < kNamesInMessages; ++i) {
    absl::StrAppend(&list, i == 0 ? "\"" : ", \"", names[i], "\"");
  }
  if (names.size() > kNamesInMessages) {
    absl::StrAppend(&list, " and ", names.size() - kNamesInMessages, " more");
  }
  return list;
}

absl::StatusOr<LabelSet> DiscoverIds(const std::vector<TextRecord>& records,
                                     absl::string_view file) {
  int64_t largest = 0;
  for (const TextRecord& record : records) {
    absl::StatusOr<std::optional<int64_t>> id = IntegerOf(record.label, file, record.line);
    if (!id.ok()) return id.status();
    if (**id < 0) return LineError(file, record.line, absl::StrCat("label ", **id, " is negative"));
    if (**id >= kMaxLabels) {
      return LineError(
          file, record.line,
          absl::StrCat("label ", **id, " would make more than ", kMaxLabels, " classes"));
    }
    largest = std::max(largest, **id);
  }
  return LabelSet::FromCount(largest + 1);
}

absl::StatusOr<LabelSet> DiscoverNames(const std::vector<TextRecord>& records,
                                       absl::string_view file) {
  std::set<std::string> names;  // sorted by byte order
  for (const TextRecord& record : records) {
    if (record.label.text.empty()) return LineError(file, record.line, "the label is empty");
    names.insert(record.label.text);
  }
  if (names.size() > static_cast<size_t>(kMaxLabels)) {
    return LineError(
        file, 0,
        absl::StrCat("the file has ", names.size(), " distinct labels, more than ", kMaxLabels));
  }
  return LabelSet::FromNames(std::vector<std::string>(names.begin(), names.end()));
}

// Rule "neither" of label_set.h.
absl::StatusOr<LabelSet> Discover(const std::vector<TextRecord>& records, absl::string_view file) {
  if (records.empty()) return LineError(file, 0, "no examples to discover the labels from");
  bool all_integers = true;
  const TextRecord& first = records.front();
  for (const TextRecord& record : records) {
    // JSON says which kind each label is; one file must not mix them.
    const bool json_kinds_differ =
        (record.label.kind == LabelValue::Kind::kId &&
         first.label.kind == LabelValue::Kind::kName) ||
        (record.label.kind == LabelValue::Kind::kName && first.label.kind == LabelValue::Kind::kId);
    if (json_kinds_differ) {
      const bool is_id = record.label.kind == LabelValue::Kind::kId;
      return LineError(
          file, record.line,
          absl::StrCat(
              "label ",
              is_id ? absl::StrCat(record.label.id) : absl::StrCat("\"", record.label.text, "\""),
              " is ", is_id ? "an integer id" : "a name", ", but the first label (line ",
              first.line, ") is ", is_id ? "a name" : "an integer id",
              "; use one kind throughout the file"));
    }
    all_integers =
        all_integers &&
        (record.label.kind == LabelValue::Kind::kId ||
         (record.label.kind == LabelValue::Kind::kField && IsDecimalInteger(record.label.text)));
  }
  return all_integers ? DiscoverIds(records, file) : DiscoverNames(records, file);
}

}  // namespace

LabelSet::LabelSet(std::vector<std::string> names, bool by_name)
    : names_(std::move(names)), by_name_(by_name) {
  if (by_name_) {
    for (size_t i = 0; i < names_.size(); ++i) ids_.emplace(names_[i], static_cast<int64_t>(i));
  }
}

absl::StatusOr<LabelSet> LabelSet::FromNames(std::vector<std::string> names) {
  if (names.empty()) return absl::InvalidArgumentError("labels: no label names");
  if (names.size() > static_cast<size_t>(kMaxLabels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: ", names.size(), " names, more than ", kMaxLabels));
  }
  absl::flat_hash_map<absl::string_view, size_t> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("labels: name ", i, " is empty"));
    }
    if (const auto [it, inserted] = seen.emplace(names[i], i); !inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels: \"", names[i], "\" is both name ", it->second, " and name ", i));
    }
  }
  return LabelSet(std::move(names), /*by_name=*/true);
}

absl::StatusOr<LabelSet> LabelSet::FromCount(int64_t count) {
  if (count < 1 || count > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat("labels: the count must be 1 to ", kMaxLabels, ", not ", count));
  }
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) names.push_back(absl::StrCat("LABEL_", i));
  return LabelSet(std::move(names), /*by_name=*/false);
}

absl::StatusOr<LabelSet> LabelSet::Resolve(const LabelSpec& spec,
                                           const std::vector<TextRecord>& records,
                                           absl::string_view file) {
  if (spec.count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("labels: negative count ", spec.count));
  }
  if (!spec.names.empty()) {
    if (spec.count != 0 && static_cast<size_t>(spec.count) != spec.names.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels: ", spec.names.size(), " names but a count of ", spec.count));
    }
    return FromNames(spec.names);
  }
  if (spec.count > 0) return FromCount(spec.count);
  return Discover(records, file);
}

LabelSpec LabelSet::spec() const {
  if (by_name_) return LabelSpec{names_, static_cast<int64_t>(names_.size())};
  return LabelSpec{{}, static_cast<int64_t>(names_.size())};
}

absl::StatusOr<int64_t> LabelSet::Id(const LabelValue& label, absl::string_view file,
                                     int64_t line) const {
  if (by_name_ && label.kind != LabelValue::Kind::kId) {
    if (const auto it = ids_.find(label.text); it != ids_.end()) return it->second;
  }
  absl::StatusOr<std::optional<int64_t>> id = IntegerOf(label, file, line);
  if (!id.ok()) return id.status();
  if (!id->has_value()) {
    if (by_name_) {
      return LineError(
          file, line,
          absl::StrCat("unknown label \"", label.text, "\"; the labels are ", ListNames(names_)));
    }
    return LineError(file, line,
                     absl::StrCat("label \"", label.text,
                                  "\" is not an integer id; the labels "
                                  "were given as a count (",
                                  names_.size(), "), so give their names to use names"));
  }
  if (**id < 0 || **id >= static_cast<int64_t>(names_.size())) {
    return LineError(file, line,
                     absl::StrCat("label ", **id, " is out of range: there are ", names_.size(),
                                  " labels (ids 0 to ", names_.size() - 1, ")"));
  }
  return **id;
}

absl::StatusOr<std::vector<int64_t>> LabelIds(const LabelSet& labels,
                                              const std::vector<TextRecord>& records,
                                              absl::string_view file) {
  std::vector<int64_t> ids;
  ids.reserve(records.size());
  for (const TextRecord& record : records) {
    absl::StatusOr<int64_t> id = labels.Id(record.label, file, record.line);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  return ids;
}

}  // namespace trustformers::training
