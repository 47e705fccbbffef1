// The committed reference fixtures (tests/golden/tokenizers/, made by make_fixtures.py with
// Hugging Face tokenizers): every corpus line must encode to exactly the recorded ids, type ids
// and byte offsets, and every case (pairs, truncation, padding, batches, decoding) must match.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/tokenizer.h"
#include "unit/gzip_file.h"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;

std::string FixturePath(const std::string& name) {
  return std::string(TF_SOURCE_DIR) + "/tests/golden/tokenizers/" + name;
}

// The lines of a gzip file, without '#' comment lines.
std::vector<std::string> ReadGzipLines(const std::string& path) {
  const std::string text = trustformers::testing::ReadGzip(path);
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] != '#') lines.emplace_back(line);
  }
  return lines;
}

std::vector<uint32_t> ParseNumbers(absl::string_view field) {
  std::vector<uint32_t> numbers;
  for (absl::string_view item : absl::StrSplit(field, ' ', absl::SkipEmpty())) {
    uint32_t value = 0;
    REQUIRE(absl::SimpleAtoi(item, &value));
    numbers.push_back(value);
  }
  return numbers;
}

std::string Show(const std::vector<Offsets>& offsets) {
  return absl::StrJoin(offsets, " ", [](std::string* out, const Offsets& o) {
    absl::StrAppend(out, o.start, ",", o.end);
  });
}

// Empty when `actual` matches the expected encoding, else what differs.
std::string Compare(const json& expect, const Encoding& actual) {
  std::string diff;
  auto check = [&](const char* field, const auto& expected, const auto& got) {
    if (expected != got) {
      absl::StrAppend(&diff, "\n  ", field, ": expected ", json(expected).dump(), "\n  ",
                      std::string(std::string(field).size(), ' '), "  got      ", json(got).dump());
    }
  };
  std::vector<Offsets> offsets;
  for (const json& o : expect["offsets"])
    offsets.push_back({o[0].get<size_t>(), o[1].get<size_t>()});
  check("ids", expect["ids"].get<std::vector<uint32_t>>(), actual.ids);
  check("type_ids", expect["type_ids"].get<std::vector<uint32_t>>(), actual.type_ids);
  check("tokens", expect["tokens"].get<std::vector<std::string>>(), actual.tokens);
  check("special_tokens_mask", expect["special_tokens_mask"].get<std::vector<uint8_t>>(),
        actual.special_tokens_mask);
  check("attention_mask", expect["attention_mask"].get<std::vector<uint8_t>>(),
        actual.attention_mask);
  if (offsets != actual.offsets) {
    absl::StrAppend(&diff, "\n  offsets: expected ", Show(offsets), "\n           got      ",
                    Show(actual.offsets));
  }
  return diff;
}

TEST_CASE("golden: every corpus line encodes exactly as Hugging Face tokenizers",
          "[tokenizers][golden]") {
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadMiniLm();
  const std::vector<std::string> lines = ReadGzipLines(FixturePath("corpus.txt.gz"));
  REQUIRE(lines.size() >= 10000);
  size_t passed = 0;
  std::vector<std::string> failures;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<absl::string_view> fields = absl::StrSplit(lines[i], '\t');
    REQUIRE(fields.size() == 4);
    const std::string text = json::parse(fields[0]).get<std::string>();
    const std::vector<uint32_t> ids = ParseNumbers(fields[1]);
    const std::vector<uint32_t> type_ids = ParseNumbers(fields[2]);
    std::vector<Offsets> offsets;
    for (absl::string_view pair : absl::StrSplit(fields[3], ' ', absl::SkipEmpty())) {
      const std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(pair, ',');
      Offsets o;
      REQUIRE(absl::SimpleAtoi(parts.first, &o.start));
      REQUIRE(absl::SimpleAtoi(parts.second, &o.end));
      offsets.push_back(o);
    }
    absl::StatusOr<Encoding> encoding = tokenizer->Encode(text, testing::Plain());
    if (encoding.ok() && encoding->ids == ids && encoding->type_ids == type_ids &&
        encoding->offsets == offsets) {
      ++passed;
      continue;
    }
    if (failures.size() < 10) {
      std::string report = absl::StrCat("corpus line ", i + 1, ": ", fields[0]);
      if (!encoding.ok()) {
        absl::StrAppend(&report, "\n  error: ", encoding.status().ToString());
      } else {
        absl::StrAppend(&report, "\n  ids: expected ", fields[1], "\n       got      ",
                        absl::StrJoin(encoding->ids, " "), "\n  offsets: expected ", fields[3],
                        "\n           got      ", Show(encoding->offsets),
                        "\n  tokens: ", absl::StrJoin(encoding->tokens, " "));
      }
      failures.push_back(report);
    }
  }
  INFO(passed << " of " << lines.size() << " corpus lines match; first mismatches:\n"
              << absl::StrJoin(failures, "\n"));
  CHECK(passed == lines.size());
}

absl::StatusOr<EncodeOptions> OptionsOf(const json& c) {
  EncodeOptions options;
  options.add_special_tokens = c.value("add_special_tokens", true);
  if (c.contains("truncation") && !c["truncation"].is_null()) {
    absl::StatusOr<TruncationParams> truncation = ParseTruncation(c["truncation"]);
    if (!truncation.ok()) return truncation.status();
    options.truncation = *truncation;
  }
  if (c.contains("padding") && !c["padding"].is_null()) {
    absl::StatusOr<PaddingParams> padding = ParsePadding(c["padding"]);
    if (!padding.ok()) return padding.status();
    options.padding = *padding;
  }
  return options;
}

// Empty when the case passes, else a report.
std::string RunCase(const Tokenizer& tokenizer, const json& c) {
  absl::StatusOr<EncodeOptions> options = OptionsOf(c);
  if (!options.ok()) return options.status().ToString();
  const std::string kind = c["case"];
  const bool expect_error = c.contains("error");
  if (kind == "decode") {
    const std::string text =
        tokenizer.Decode(c["ids"].get<std::vector<uint32_t>>(), c["skip_special_tokens"]);
    return text == c["expect"].get<std::string>() ? ""
                                                  : absl::StrCat("decoded: ", json(text).dump());
  }
  std::vector<Encoding> encodings;
  absl::Status status;
  if (kind == "single" || kind == "pair") {
    absl::StatusOr<Encoding> encoding =
        kind == "single"
            ? tokenizer.Encode(c["a"].get<std::string>(), *options)
            : tokenizer.EncodePair(c["a"].get<std::string>(), c["b"].get<std::string>(), *options);
    status = encoding.status();
    if (encoding.ok()) encodings.push_back(*std::move(encoding));
  } else if (kind == "batch") {
    absl::StatusOr<std::vector<Encoding>> batch =
        tokenizer.EncodeBatch(c["texts"].get<std::vector<std::string>>(), *options);
    status = batch.status();
    if (batch.ok()) encodings = *std::move(batch);
  } else if (kind == "pair_batch") {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const json& p : c["pairs"]) pairs.emplace_back(p[0], p[1]);
    absl::StatusOr<std::vector<Encoding>> batch = tokenizer.EncodePairBatch(pairs, *options);
    status = batch.status();
    if (batch.ok()) encodings = *std::move(batch);
  } else {
    return "unknown case kind " + kind;
  }
  if (expect_error) {
    if (status.code() == absl::StatusCode::kInvalidArgument) return "";
    return absl::StrCat("expected INVALID_ARGUMENT (", c["error"].get<std::string>(), "), got ",
                        status.ToString());
  }
  if (!status.ok()) return status.ToString();
  const json expected = c["expect"].is_array() ? c["expect"] : json::array({c["expect"]});
  if (expected.size() != encodings.size()) return "wrong number of encodings";
  std::string diff;
  for (size_t i = 0; i < encodings.size(); ++i) {
    const std::string one = Compare(expected[i], encodings[i]);
    if (!one.empty()) absl::StrAppend(&diff, "\n encoding ", i, ":", one);
  }
  return diff;
}

TEST_CASE("golden: pairs, truncation, padding, batches and decoding match",
          "[tokenizers][golden]") {
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadMiniLm();
  const std::vector<std::string> lines = ReadGzipLines(FixturePath("cases.jsonl.gz"));
  REQUIRE(lines.size() >= 300);
  size_t passed = 0;
  std::vector<std::string> failures;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json c = json::parse(lines[i]);
    const std::string diff = RunCase(*tokenizer, c);
    if (diff.empty()) {
      ++passed;
    } else if (failures.size() < 10) {
      json input = c;
      input.erase("expect");
      failures.push_back(absl::StrCat("case ", i + 1, ": ", input.dump(), diff));
    }
  }
  INFO(passed << " of " << lines.size() << " cases match; first mismatches:\n"
              << absl::StrJoin(failures, "\n"));
  CHECK(passed == lines.size());
}

}  // namespace
}  // namespace trustformers::tokenizers
