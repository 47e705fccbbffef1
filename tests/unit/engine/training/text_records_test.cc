// Text-classification files read into records: JSON Lines, CSV and TSV by extension, and an
// INVALID_ARGUMENT naming the file and the right line for each kind of malformed input.
#include "engine/training/text_records.h"

#include <random>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/training/label_set.h"
#include "engine/training/line_error.h"
#include "unit/temp_dir.h"

namespace trustformers::training {
namespace {

std::vector<TextRecord> Parse(absl::string_view contents, TextFileFormat format) {
  absl::StatusOr<std::vector<TextRecord>> records = ParseTextRecords(contents, format, "data");
  INFO(records.status().ToString());
  REQUIRE(records.ok());
  return *std::move(records);
}

TEST_CASE("text records: the extension chooses the format", "[data]") {
  CHECK(FormatForPath("train.jsonl").value() == TextFileFormat::kJsonLines);
  CHECK(FormatForPath("/a/b/Train.JSON").value() == TextFileFormat::kJsonLines);
  CHECK(FormatForPath("x.csv").value() == TextFileFormat::kCsv);
  CHECK(FormatForPath("x.TSV").value() == TextFileFormat::kTsv);
  for (const char* path : {"x.txt", "noextension", "dir.csv/file", "x.csv.gz", ""}) {
    INFO(path);
    CHECK(FormatForPath(path).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("text records: JSON Lines", "[data]") {
  const std::vector<TextRecord> records = Parse(
      "\xEF\xBB\xBF{\"text\": \"good film\", \"label\": 1}\n"
      "\n"
      "   \r\n"
      "{\"label\": \"neg\", \"text\": \"bad \\\"film\\\"\", \"id\": 7}\r\n"
      "{\"text\": \"q?\", \"text_pair\": \"a.\", \"label\": 0}\n"
      "{\"text\": \"\", \"text_pair\": null, \"label\": -2}\n",
      TextFileFormat::kJsonLines);
  REQUIRE(records.size() == 4);
  CHECK(records[0].line == 1);
  CHECK(records[0].text == "good film");
  CHECK_FALSE(records[0].text_pair.has_value());
  CHECK(records[0].label.kind == LabelValue::Kind::kId);
  CHECK(records[0].label.id == 1);
  CHECK(records[1].line == 4);
  CHECK(records[1].text == "bad \"film\"");
  CHECK(records[1].label.kind == LabelValue::Kind::kName);
  CHECK(records[1].label.text == "neg");
  CHECK(records[2].text_pair == std::optional<std::string>("a."));
  CHECK(records[3].text.empty());
  CHECK_FALSE(records[3].text_pair.has_value());
  CHECK(records[3].label.id == -2);  // range is the label set's business
}

TEST_CASE("text records: CSV with a header in any order", "[data]") {
  const std::vector<TextRecord> records = Parse(
      "id,label,text_pair,text\n"
      "1,pos,,\"Hello, world\"\n"
      "2,0,\"second\npart\",\"She said \"\"hi\"\"\"\n"
      "3,neg,b,a\n",
      TextFileFormat::kCsv);
  REQUIRE(records.size() == 3);
  CHECK(records[0].line == 2);
  CHECK(records[0].text == "Hello, world");
  CHECK_FALSE(records[0].text_pair.has_value());  // an empty field is no pair
  CHECK(records[0].label.kind == LabelValue::Kind::kField);
  CHECK(records[0].label.text == "pos");
  CHECK(records[1].text == "She said \"hi\"");
  CHECK(records[1].text_pair == std::optional<std::string>("second\npart"));
  CHECK(records[1].label.text == "0");
  CHECK(records[2].line == 5);  // record 2 spans lines 3 and 4
}

TEST_CASE("text records: TSV", "[data]") {
  const std::vector<TextRecord> records =
      Parse("text\tlabel\nfirst, with a comma\t1\n\n\"quoted\ttab\"\t0\n", TextFileFormat::kTsv);
  REQUIRE(records.size() == 2);
  CHECK(records[0].text == "first, with a comma");
  CHECK(records[1].line == 4);
  CHECK(records[1].text == "quoted\ttab");
  CHECK(records[1].label.text == "0");
}

struct BadCase {
  TextFileFormat format;
  std::string contents;
  int64_t line;  // 0: the whole file
  std::string message;
};

TEST_CASE("text records: each malformed input names its line", "[data]") {
  const auto json = TextFileFormat::kJsonLines;
  const auto csv = TextFileFormat::kCsv;
  const std::string ok_line = "{\"text\": \"a\", \"label\": 0}\n";
  const std::vector<BadCase> cases = {
      {json, ok_line + "{\"text\": \"b\", \"label\": }\n", 2, "invalid JSON at column 24"},
      {json, ok_line + "\n{\"text\": \"b\" \"label\": 1}\n", 3, "invalid JSON at column"},
      {json, ok_line + "[1, 2]\n", 2,
       "expected one JSON object per line (JSON Lines), not an array"},
      {json, "\"just a string\"\n", 1, "not a string"},
      {json, ok_line + ok_line + "{\"label\": 1}\n", 3, "missing \"text\""},
      {json, "{\"text\": 5, \"label\": 1}\n", 1, "\"text\" must be a string, not a number"},
      {json, "{\"text\": null, \"label\": 1}\n", 1, "\"text\" must be a string, not null"},
      {json, "{\"text\": \"a\", \"text_pair\": [], \"label\": 1}\n", 1,
       "\"text_pair\" must be a string, not an array"},
      {json, ok_line + "{\"text\": \"a\"}\n", 2, "missing \"label\""},
      {json, "{\"text\": \"a\", \"label\": 0.5}\n", 1, "regression labels are not supported"},
      {json, "{\"text\": \"a\", \"label\": true}\n", 1,
       "must be an integer id or a string name, not a boolean"},
      {json, "{\"text\": \"a\", \"label\": 18446744073709551615}\n", 1, "out of range"},
      {json, ok_line + "{\"text\": \"caf\xE9\", \"label\": 0}\n", 2, "not valid UTF-8"},
      {json, ok_line + "{\"text\": \"" + std::string(100, 'x') + "\", \"label\": 0}\n", 2,
       "more than the limit of 64"},
      {json, "", 0, "no examples"},
      {json, "\n  \n\r\n", 0, "no examples"},
      {csv, "", 0, "no header row"},
      {csv, "text,lable\na,1\n", 1, "must name the columns \"text\" and \"label\""},
      {csv, "text,label,text\na,1,b\n", 1, "names \"text\" twice"},
      {csv, "text,label\n", 0, "only a header row"},
      {csv, "text,label\na,1\nb,2,extra\n", 3,
       "the row has 3 fields, but the header (line 1) has 2"},
      {csv, "text,label\na,1\nb\n", 3, "the row has 1 fields"},
      {csv, "text,label\na,1\n\"b,2\nc,3\n", 3, "unbalanced quotes"},
      {csv, "text,label\n\"a\"b,1\n", 2, "after the closing quote"},
      {csv, "text,label\na,\n", 2, "the label is empty"},
      {csv, "text,label\na,1\n\xFF,2\n", 3, "not valid UTF-8"},
  };
  TextFileLimits limits;
  limits.max_line_bytes = 64;
  for (const BadCase& test : cases) {
    INFO(test.contents);
    const absl::StatusOr<std::vector<TextRecord>> records =
        ParseTextRecords(test.contents, test.format, "f.data", limits);
    REQUIRE(records.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(records.status().message());
    CHECK(ErrorLine(records.status()) == test.line);
    CHECK_THAT(message,
               Catch::StartsWith(test.line > 0 ? "f.data:" + std::to_string(test.line) + ": "
                                               : std::string("f.data: ")));
    CHECK_THAT(message, Catch::Contains(test.message));
  }
}

TEST_CASE("text records: files are read by extension within a size limit", "[data]") {
  testing::TempDir dir;
  const std::string jsonl =
      dir.Write("train.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n").string();
  const std::string tsv = dir.Write("train.tsv", "label\ttext\ny\tb\n").string();
  absl::StatusOr<std::vector<TextRecord>> from_jsonl = ReadTextRecords(jsonl);
  REQUIRE(from_jsonl.ok());
  CHECK(from_jsonl->at(0).label.text == "x");
  absl::StatusOr<std::vector<TextRecord>> from_tsv = ReadTextRecords(tsv);
  REQUIRE(from_tsv.ok());
  CHECK(from_tsv->at(0).text == "b");

  TextFileLimits small;
  small.max_file_bytes = 10;
  const absl::Status too_big = ReadTextRecords(jsonl, small).status();
  CHECK(too_big.code() == absl::StatusCode::kInvalidArgument);
  CHECK(ErrorLine(too_big) == 0);
  CHECK_THAT(std::string(too_big.message()), Catch::Contains("more than the limit of 10"));

  CHECK(ReadTextRecords((dir.path() / "missing.csv").string()).status().code() ==
        absl::StatusCode::kNotFound);
  const std::string folder = (dir.path() / "folder.csv").string();
  std::filesystem::create_directories(folder);
  CHECK(ReadTextRecords(folder).status().code() == absl::StatusCode::kInvalidArgument);
  const std::string text = dir.Write("notes.txt", "text,label\na,1\n").string();
  CHECK(ReadTextRecords(text).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("text records: mangled files fail with a line, never a throw", "[data]") {
  // Valid files of each format with bytes replaced, inserted and deleted at random: each must
  // parse, or fail with an INVALID_ARGUMENT LineError; labels are resolved for those that parse.
  const std::vector<std::pair<TextFileFormat, std::string>> seeds = {
      {TextFileFormat::kJsonLines,
       "{\"text\": \"a \\\"b\\\"\", \"label\": \"y\"}\n\n{\"text\": \"c\", \"text_pair\": \"d\", "
       "\"label\": \"x\"}\n"},
      {TextFileFormat::kCsv, "text,label,text_pair\n\"a, \"\"b\"\"\",1,\n\"multi\nline\",2,q\r\n"},
      {TextFileFormat::kTsv, "label\ttext\n1\t\"x\ty\"\n\n0\tz\n"},
  };
  const std::string alphabet = "\"\\,\t\n\r{}[]:01ab \xC3\xA9\xFF";
  std::mt19937 random(20240607);
  const auto below = [&](size_t bound) { return static_cast<size_t>(random() % bound); };
  int parsed = 0, refused = 0;
  for (int round = 0; round < 3000; ++round) {
    const auto& [format, seed] = seeds[static_cast<size_t>(round) % seeds.size()];
    std::string contents = seed;
    for (size_t edits = 1 + below(4); edits > 0; --edits) {
      const size_t at = below(contents.size() + 1);
      const char c = alphabet[below(alphabet.size())];
      switch (below(3)) {
        case 0:
          if (at < contents.size()) contents[at] = c;
          break;
        case 1:
          contents.insert(at, 1, c);
          break;
        default:
          if (at < contents.size()) contents.erase(at, 1);
      }
    }
    INFO(contents);
    absl::StatusOr<std::vector<TextRecord>> records = ParseTextRecords(contents, format, "f");
    if (!records.ok()) {
      ++refused;
      REQUIRE(records.status().code() == absl::StatusCode::kInvalidArgument);
      REQUIRE(ErrorLine(records.status()).has_value());
      REQUIRE_THAT(std::string(records.status().message()), Catch::StartsWith("f"));
      continue;
    }
    ++parsed;
    REQUIRE_FALSE(records->empty());
    absl::StatusOr<LabelSet> labels = LabelSet::Resolve({}, *records, "f");
    if (labels.ok()) {
      absl::StatusOr<std::vector<int64_t>> ids = LabelIds(*labels, *records, "f");
      REQUIRE(ids.ok());  // discovered labels cover the file they came from
    } else {
      REQUIRE(ErrorLine(labels.status()).has_value());
    }
  }
  // Both outcomes were exercised.
  CHECK(parsed > 100);
  CHECK(refused > 100);
}

}  // namespace
}  // namespace trustformers::training
