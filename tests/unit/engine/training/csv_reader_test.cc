// DelimitedReader: RFC 4180 records with the line each starts on, quoting (delimiters, doubled
// quotes and line breaks inside quotes), the lenient cases Python's csv module accepts, and
// errors that name the line where the problem starts.
#include "engine/training/csv_reader.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/training/line_error.h"

namespace trustformers::training {
namespace {

struct Read {
  std::vector<DelimitedRecord> records;
  absl::Status status;
};

Read ReadAll(absl::string_view contents, char delimiter = ',', size_t max_line_bytes = 1 << 20) {
  DelimitedReader reader(contents, delimiter, "in.csv", max_line_bytes);
  Read read;
  DelimitedRecord record;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&record);
    if (!more.ok()) {
      read.status = more.status();
      break;
    }
    if (!*more) break;
    read.records.push_back(record);
  }
  return read;
}

using Fields = std::vector<std::string>;

TEST_CASE("csv: plain records with their lines", "[data]") {
  const Read read = ReadAll("a,b,c\n1,2,3\r\n\n\r\nx,,\ny,z");
  REQUIRE(read.status.ok());
  REQUIRE(read.records.size() == 4);
  CHECK(read.records[0].line == 1);
  CHECK(read.records[0].fields == Fields{"a", "b", "c"});
  CHECK(read.records[1].fields == Fields{"1", "2", "3"});  // "\r\n" is one line break
  CHECK(read.records[2].line == 5);                        // two blank lines skipped
  CHECK(read.records[2].fields == Fields{"x", "", ""});
  CHECK(read.records[3].line == 6);  // no final line break
  CHECK(read.records[3].fields == Fields{"y", "z"});
}

TEST_CASE("csv: quoted fields hold delimiters, quotes and line breaks", "[data]") {
  const Read read = ReadAll(
      "text,label\n"
      "\"Hello, world\",1\n"
      "\"She said \"\"hi\"\"\",2\n"
      "\"two\nlines\r\nhere\",3\n"
      "\"\",4\n"
      "after,5\n");
  REQUIRE(read.status.ok());
  REQUIRE(read.records.size() == 6);
  CHECK(read.records[1].fields == Fields{"Hello, world", "1"});
  CHECK(read.records[2].fields == Fields{"She said \"hi\"", "2"});
  CHECK(read.records[3].line == 4);
  CHECK(read.records[3].fields == Fields{"two\nlines\r\nhere", "3"});
  CHECK(read.records[4].line == 7);  // the record above spans lines 4 to 6
  CHECK(read.records[4].fields == Fields{"", "4"});
  CHECK(read.records[5].line == 8);
}

TEST_CASE("csv: lenient where Python's csv module is", "[data]") {
  const Read read = ReadAll("5\" tall,1\n  \"spaced\",2\nlast,3\r");
  REQUIRE(read.status.ok());
  REQUIRE(read.records.size() == 3);
  CHECK(read.records[0].fields == Fields{"5\" tall", "1"});      // a quote mid-field is text
  CHECK(read.records[1].fields == Fields{"  \"spaced\"", "2"});  // quoting starts only at a field
  CHECK(read.records[2].fields == Fields{"last", "3"});          // a bare "\r" ends the file
}

TEST_CASE("csv: tabs delimit TSV and commas are text there", "[data]") {
  const Read read = ReadAll("text\tlabel\nfirst, second\t1\n\"a\ttab\"\t2\n", '\t');
  REQUIRE(read.status.ok());
  REQUIRE(read.records.size() == 3);
  CHECK(read.records[1].fields == Fields{"first, second", "1"});
  CHECK(read.records[2].fields == Fields{"a\ttab", "2"});
}

TEST_CASE("csv: errors name the line where the problem starts", "[data]") {
  struct Case {
    std::string contents;
    int64_t line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a,b\n\"open,1\nmore\n", 2, "unbalanced quotes"},
      {"a,b\n1,2\n\"closed\"x,3\n", 3, "unexpected text after the closing quote"},
      {"a,b\n\"multi\nline\"y,3\n", 3, "unexpected text after the closing quote"},
      {"a,b\n1,2\n3,\xFF\n", 3, "not valid UTF-8"},
      // Inside a quoted field too: each line is checked as the reader reaches it.
      {"a,b\n\"x\n\xC3\x28\",1\n", 3, "not valid UTF-8"},
      {"a,b\n" + std::string(70, 'x') + ",1\n", 2, "more than the limit of 64"},
  };
  for (const Case& test : cases) {
    INFO(test.contents);
    const Read read = ReadAll(test.contents, ',', 64);
    REQUIRE(read.status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(ErrorLine(read.status) == test.line);
    CHECK_THAT(std::string(read.status.message()),
               Catch::StartsWith("in.csv:" + std::to_string(test.line) + ": "));
    CHECK_THAT(std::string(read.status.message()), Catch::Contains(test.message));
  }
}

TEST_CASE("csv: an error ends the reading", "[data]") {
  DelimitedReader reader("a\n\"b\n", ',', "in.csv", 1 << 20);
  DelimitedRecord record;
  REQUIRE(reader.Next(&record).ok());
  const absl::StatusOr<bool> failed = reader.Next(&record);
  REQUIRE(!failed.ok());
  CHECK(reader.Next(&record).status() == failed.status());
}

}  // namespace
}  // namespace trustformers::training
