// LabelSet: labels given as names, as a count, or discovered from the training file, and every
// label that does not fit named by file and line.
#include "engine/training/label_set.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/training/line_error.h"

namespace trustformers::training {
namespace {

// Records whose labels are `labels` (lines 1, 2, ...), all of one kind.
std::vector<TextRecord> Records(const std::vector<std::string>& labels, LabelValue::Kind kind) {
  std::vector<TextRecord> records;
  for (size_t i = 0; i < labels.size(); ++i) {
    TextRecord record;
    record.text = "t";
    record.line = static_cast<int64_t>(i + 1);
    record.label.kind = kind;
    if (kind == LabelValue::Kind::kId) {
      record.label.id = std::stoll(labels[i]);
    } else {
      record.label.text = labels[i];
    }
    records.push_back(record);
  }
  return records;
}

LabelSet Resolve(const LabelSpec& spec, const std::vector<TextRecord>& records) {
  absl::StatusOr<LabelSet> set = LabelSet::Resolve(spec, records, "train.jsonl");
  INFO(set.status().ToString());
  REQUIRE(set.ok());
  return *std::move(set);
}

std::vector<int64_t> Ids(const LabelSet& set, const std::vector<TextRecord>& records) {
  absl::StatusOr<std::vector<int64_t>> ids = LabelIds(set, records, "train.jsonl");
  INFO(ids.status().ToString());
  REQUIRE(ids.ok());
  return *std::move(ids);
}

// The error LabelIds gives, checked to name `line`.
std::string IdsError(const LabelSet& set, const std::vector<TextRecord>& records, int64_t line) {
  absl::StatusOr<std::vector<int64_t>> ids = LabelIds(set, records, "train.jsonl");
  REQUIRE(ids.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ErrorLine(ids.status()) == line);
  return std::string(ids.status().message());
}

using Names = std::vector<std::string>;
using Kind = LabelValue::Kind;

TEST_CASE("labels: names and counts are checked", "[data]") {
  CHECK(LabelSet::FromNames({}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(LabelSet::FromNames({"a", ""}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(LabelSet::FromNames({"a", "b", "a"}).status().message()),
             Catch::Contains("\"a\" is both name 0 and name 2"));
  CHECK(LabelSet::FromCount(0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(LabelSet::FromCount(kMaxLabels + 1).status().code() == absl::StatusCode::kInvalidArgument);
  const std::vector<TextRecord> none;
  CHECK(LabelSet::Resolve({{"a", "b"}, 3}, none, "f").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(LabelSet::Resolve({{}, -1}, none, "f").status().code() ==
        absl::StatusCode::kInvalidArgument);

  const LabelSet counted = LabelSet::FromCount(3).value();
  CHECK(counted.names() == Names{"LABEL_0", "LABEL_1", "LABEL_2"});
  CHECK_FALSE(counted.by_name());
}

TEST_CASE("labels: given names take names and ids in range", "[data]") {
  const LabelSet set = Resolve({{"neg", "neutral", "pos"}, 3}, {});
  CHECK(set.by_name());
  CHECK(Ids(set, Records({"pos", "neg", "neutral"}, Kind::kName)) == std::vector<int64_t>{2, 0, 1});
  CHECK(Ids(set, Records({"0", "2"}, Kind::kId)) == std::vector<int64_t>{0, 2});
  CHECK(Ids(set, Records({"pos", "1"}, Kind::kField)) == std::vector<int64_t>{2, 1});

  CHECK_THAT(IdsError(set, Records({"pos", "Pos"}, Kind::kName), 2),
             Catch::Contains("train.jsonl:2: unknown label \"Pos\"; the labels are \"neg\", "
                             "\"neutral\", \"pos\""));
  CHECK_THAT(IdsError(set, Records({"1", "3"}, Kind::kId), 2),
             Catch::Contains("label 3 is out of range: there are 3 labels (ids 0 to 2)"));
  CHECK_THAT(IdsError(set, Records({"-1"}, Kind::kId), 1), Catch::Contains("out of range"));
  CHECK_THAT(IdsError(set, Records({"2", " 1"}, Kind::kField), 2),
             Catch::Contains("unknown label \" 1\""));
  CHECK_THAT(IdsError(set, Records({"99999999999999999999"}, Kind::kField), 1),
             Catch::Contains("out of range"));
}

TEST_CASE("labels: a CSV field that is a name means the name", "[data]") {
  // Star ratings named "1".."5": the field "1" is the name "1" (id 0), not id 1.
  const LabelSet stars = Resolve({{"1", "2", "3", "4", "5"}, 0}, {});
  CHECK(Ids(stars, Records({"1", "5", "0"}, Kind::kField)) == std::vector<int64_t>{0, 4, 0});
  CHECK(Ids(stars, Records({"1"}, Kind::kId)) ==
        std::vector<int64_t>{1});  // a JSON integer is an id
}

TEST_CASE("labels: a count takes ids only", "[data]") {
  const LabelSet set = Resolve({{}, 2}, {});
  CHECK(Ids(set, Records({"1", "0"}, Kind::kId)) == std::vector<int64_t>{1, 0});
  CHECK(Ids(set, Records({"1", "0"}, Kind::kField)) == std::vector<int64_t>{1, 0});
  // A JSON string is a name even when it reads as a number.
  CHECK_THAT(IdsError(set, Records({"0"}, Kind::kName), 1), Catch::Contains("not an integer id"));
  CHECK_THAT(IdsError(set, Records({"pos"}, Kind::kName), 1),
             Catch::Contains("label \"pos\" is not an integer id; the labels were given as a count "
                             "(2)"));
  CHECK_THAT(IdsError(set, Records({"LABEL_0"}, Kind::kField), 1),
             Catch::Contains("not an integer id"));
  CHECK_THAT(IdsError(set, Records({"0", "1", "2"}, Kind::kField), 3),
             Catch::Contains("label 2 is out of range"));
}

TEST_CASE("labels: discovered names are sorted by byte order", "[data]") {
  const std::vector<TextRecord> records = Records({"pos", "neg", "Pos", "neg", "b"}, Kind::kName);
  const LabelSet set = Resolve({}, records);
  CHECK(set.by_name());
  CHECK(set.names() == Names{"Pos", "b", "neg", "pos"});
  CHECK(Ids(set, records) == std::vector<int64_t>{3, 2, 0, 2, 1});

  // CSV fields: one name makes them all names, integer-looking ones included.
  const std::vector<TextRecord> mixed = Records({"10", "9", "pos"}, Kind::kField);
  const LabelSet from_fields = Resolve({}, mixed);
  CHECK(from_fields.names() == Names{"10", "9", "pos"});
  CHECK(Ids(from_fields, mixed) == std::vector<int64_t>{0, 1, 2});
}

TEST_CASE("labels: discovered integer labels are ids up to the largest", "[data]") {
  const std::vector<TextRecord> records = Records({"2", "0", "2"}, Kind::kId);
  const LabelSet set = Resolve({}, records);
  CHECK_FALSE(set.by_name());
  CHECK(set.names() == Names{"LABEL_0", "LABEL_1", "LABEL_2"});
  CHECK(Ids(set, records) == std::vector<int64_t>{2, 0, 2});
  CHECK(Resolve({}, Records({"1", "3"}, Kind::kField)).size() == 4);

  // The validation file goes through the training set's spec: still ids only, same size.
  const LabelSet again = Resolve(set.spec(), {});
  CHECK(again.names() == set.names());
  CHECK_FALSE(again.by_name());
  const LabelSet named = Resolve({{"b", "a"}, 0}, {});
  CHECK(Resolve(named.spec(), {}).names() == Names{"b", "a"});
}

TEST_CASE("labels: discovery refuses labels it cannot number", "[data]") {
  const auto error = [](const std::vector<TextRecord>& records, int64_t line) {
    absl::StatusOr<LabelSet> set = LabelSet::Resolve({}, records, "train.jsonl");
    REQUIRE(set.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(ErrorLine(set.status()) == line);
    return std::string(set.status().message());
  };
  std::vector<TextRecord> mixed = Records({"pos", "neg", "neg"}, Kind::kName);
  mixed[2].label.kind = Kind::kId;
  mixed[2].label.id = 1;
  CHECK_THAT(error(mixed, 3),
             Catch::Contains("train.jsonl:3: label 1 is an integer id, but the first label "
                             "(line 1) is a name"));
  std::vector<TextRecord> ids_then_name = Records({"0", "1"}, Kind::kId);
  ids_then_name[1].label.kind = Kind::kName;
  ids_then_name[1].label.text = "pos";
  CHECK_THAT(error(ids_then_name, 2),
             Catch::Contains("label \"pos\" is a name, but the first label (line 1) is an "
                             "integer id"));
  CHECK_THAT(error(Records({"0", "-1"}, Kind::kId), 2), Catch::Contains("label -1 is negative"));
  CHECK_THAT(error(Records({"0", "-1"}, Kind::kField), 2), Catch::Contains("negative"));
  CHECK_THAT(error(Records({"1", "65536"}, Kind::kId), 2),
             Catch::Contains("would make more than 65536 classes"));
  CHECK_THAT(error(Records({"a", ""}, Kind::kName), 2), Catch::Contains("the label is empty"));
  CHECK_THAT(error({}, 0), Catch::Contains("no examples"));
}

}  // namespace
}  // namespace trustformers::training
