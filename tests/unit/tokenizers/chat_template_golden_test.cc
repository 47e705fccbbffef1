// The committed jinja2 renders (tests/golden/chat_templates/, made by make_fixtures.py with the
// environment transformers builds): every real template over every conversation, and every
// language snippet, must render byte for byte as jinja2 did; where jinja2 raised, rendering must
// fail too, with jinja2's message (a raise_exception() message verbatim, any other after the
// template position).
#include <algorithm>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/chat_template.h"
#include "unit/gzip_file.h"

namespace trustformers::tokenizers {
namespace {

using ordered_json = nlohmann::ordered_json;

std::vector<std::string> ReadGzipLines(const std::string& path) {
  const std::string text = trustformers::testing::ReadGzip(path);
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.emplace_back(line);
  }
  return lines;
}

// "2024-07-26T09:05:03" as a broken-down time with its weekday and day of the year filled in.
std::tm ParseNow(const std::string& iso) {
  std::vector<std::string> parts = absl::StrSplit(iso, absl::ByAnyChar("-T:"));
  REQUIRE(parts.size() == 6);
  int fields[6];
  for (int i = 0; i < 6; ++i) REQUIRE(absl::SimpleAtoi(parts[i], &fields[i]));
  std::tm tm{};
  tm.tm_year = fields[0] - 1900;
  tm.tm_mon = fields[1] - 1;
  tm.tm_mday = fields[2];
  tm.tm_hour = fields[3];
  tm.tm_min = fields[4];
  tm.tm_sec = fields[5];
  const std::time_t seconds = timegm(&tm);
  gmtime_r(&seconds, &tm);
  return tm;
}

// Shows where two renders part: the common prefix length and a window of each.
std::string Difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const size_t from = at > 60 ? at - 60 : 0;
  return absl::StrCat("first difference at byte ", at,
                      "\n    expected: ", ordered_json(expected.substr(from, 160)).dump(),
                      "\n    actual:   ", ordered_json(actual.substr(from, 160)).dump());
}

struct Tally {
  int cases = 0;
  int matched = 0;
};

// Renders one case; empty when it matches the fixture, else what went wrong.
std::string Check(const ChatTemplate& chat_template, const ordered_json& record,
                  const ChatTemplate::RenderOptions& options) {
  const absl::StatusOr<std::string> rendered = chat_template.Render(record["context"], options);
  if (record.contains("output")) {
    const std::string expected = record["output"].get<std::string>();
    if (!rendered.ok())
      return absl::StrCat("jinja2 rendered, we failed: ", rendered.status().message());
    if (*rendered != expected) return Difference(expected, *rendered);
    return "";
  }
  const ordered_json& error = record["error"];
  const std::string expected = error["message"].get<std::string>();
  if (rendered.ok()) {
    return absl::StrCat("jinja2 raised ", error["type"].get<std::string>(), " (", expected,
                        "), we rendered ", ordered_json(rendered->substr(0, 200)).dump());
  }
  // raise_exception() messages come back verbatim; other errors carry the template position
  // first, then jinja2's own wording.
  absl::string_view message = rendered.status().message();
  if (error["type"] != "TemplateError" && absl::ConsumePrefix(&message, "chat template line ")) {
    message.remove_prefix(std::min(message.size(), message.find(": ") + 2));
  }
  if (message != expected) {
    return absl::StrCat(error["type"].get<std::string>(), " message differs: expected ",
                        ordered_json(expected).dump(), ", got ",
                        ordered_json(std::string(rendered.status().message())).dump());
  }
  return "";
}

TEST_CASE("every chat template fixture renders as jinja2 does", "[chat_template][golden]") {
  const std::vector<std::string> lines =
      ReadGzipLines(std::string(TF_SOURCE_DIR) + "/tests/golden/chat_templates/cases.jsonl.gz");
  REQUIRE(!lines.empty());
  const ordered_json header = ordered_json::parse(lines[0]);
  REQUIRE(header["kind"] == "header");
  ChatTemplate::RenderOptions options;
  options.now = ParseNow(header["now"].get<std::string>());

  std::map<std::string, Tally> tallies;
  std::vector<std::string> failures;
  int templates = 0;
  int snippets = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const ordered_json record = ordered_json::parse(lines[i]);
    const std::string name = record["name"].get<std::string>();
    const bool is_template = record["kind"] == "template";
    (is_template ? templates : snippets) += 1;
    const std::string label = is_template ? name : "snippets";
    absl::StatusOr<std::unique_ptr<ChatTemplate>> parsed =
        ChatTemplate::Parse(record["source"].get<std::string>());
    const ordered_json cases = is_template ? record["cases"] : ordered_json::array({record});
    Tally& tally = tallies[label];
    for (const ordered_json& one : cases) {
      ++tally.cases;
      std::string problem = parsed.ok() ? Check(**parsed, one, options)
                                        : absl::StrCat("parse failed: ", parsed.status().message());
      if (problem.empty()) {
        ++tally.matched;
      } else if (failures.size() < 40) {
        failures.push_back(
            absl::StrCat(name, " / ", one["name"].get<std::string>(), ": ", problem));
      }
    }
  }

  int cases = 0;
  int matched = 0;
  std::string summary;
  for (const auto& [label, tally] : tallies) {
    cases += tally.cases;
    matched += tally.matched;
    if (tally.matched != tally.cases) {
      absl::StrAppend(&summary, "\n  ", label, ": ", tally.matched, "/", tally.cases);
    }
  }
  std::string details;
  for (const std::string& failure : failures) absl::StrAppend(&details, "\n", failure);
  INFO(templates << " templates and " << snippets << " snippets: " << matched << "/" << cases
                 << " cases match" << summary << details);
  CHECK(templates >= 10);
  CHECK(matched == cases);
}

}  // namespace
}  // namespace trustformers::tokenizers
