// The byte-level BPE tokenizer against Hugging Face `tokenizers` on the fixtures of
// tests/golden/bpe (see make_fixtures.py there): every corpus line through the GGUF file's
// tokenizer and through the fixture tokenizer.json, decode cases, and variant pipelines.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/streaming_decoder.h"
#include "tokenizers/utf8.h"
#include "unit/tokenizers/bpe_test_util.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;
using testing::BpeFixturePath;
using testing::ReadGzip;

std::vector<std::string> FixtureLines(const std::string& name) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(ReadGzip(BpeFixturePath(name)), '\n')) {
    if (!line.empty() && line[0] != '#') lines.emplace_back(line);
  }
  return lines;
}

std::vector<uint32_t> ParseIds(absl::string_view field) {
  std::vector<uint32_t> ids;
  for (absl::string_view item : absl::StrSplit(field, ' ', absl::SkipEmpty())) {
    uint32_t id = 0;
    REQUIRE(absl::SimpleAtoi(item, &id));
    ids.push_back(id);
  }
  return ids;
}

struct CorpusLine {
  std::string text;
  std::vector<uint32_t> parsed;   // special tokens parsed
  std::vector<uint32_t> literal;  // special tokens as text
};

const std::vector<CorpusLine>& Corpus() {
  static const std::vector<CorpusLine>* const corpus = [] {
    auto* lines = new std::vector<CorpusLine>();
    for (const std::string& line : FixtureLines("corpus.txt.gz")) {
      const std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
      REQUIRE(fields.size() == 3);
      CorpusLine entry;
      entry.text = json::parse(fields[0]).get<std::string>();
      entry.parsed = ParseIds(fields[1]);
      entry.literal = fields[2] == "=" ? entry.parsed : ParseIds(fields[2]);
      lines->push_back(std::move(entry));
    }
    return lines;
  }();
  return *corpus;
}

std::string Report(const std::string& what, size_t line, const std::string& text,
                   const std::vector<uint32_t>& expected,
                   const absl::StatusOr<std::vector<uint32_t>>& got) {
  return absl::StrCat(what, " line ", line, ": ", json(text).dump(), "\n  expected ",
                      absl::StrJoin(expected, " "), "\n  got      ",
                      got.ok() ? absl::StrJoin(*got, " ") : got.status().ToString());
}

void CheckCorpus(const BpeTokenizer& tokenizer, const std::string& name) {
  const std::vector<CorpusLine>& corpus = Corpus();
  REQUIRE(corpus.size() >= 10000);
  size_t passed = 0;
  std::vector<std::string> failures;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const CorpusLine& line = corpus[i];
    const absl::StatusOr<std::vector<uint32_t>> parsed =
        tokenizer.Encode(line.text, /*add_special_tokens=*/false, /*parse_special=*/true);
    const absl::StatusOr<std::vector<uint32_t>> literal =
        tokenizer.Encode(line.text, /*add_special_tokens=*/false, /*parse_special=*/false);
    const bool parsed_ok = parsed.ok() && *parsed == line.parsed;
    const bool literal_ok = literal.ok() && *literal == line.literal;
    if (parsed_ok && literal_ok) {
      ++passed;
    } else if (failures.size() < 10) {
      failures.push_back(parsed_ok ? Report("literal", i + 1, line.text, line.literal, literal)
                                   : Report("parsed", i + 1, line.text, line.parsed, parsed));
    }
  }
  INFO(name << ": " << passed << " of " << corpus.size()
            << " corpus lines match in both modes; first mismatches:\n"
            << absl::StrJoin(failures, "\n"));
  CHECK(passed == corpus.size());
}

TEST_CASE("bpe golden: every corpus line encodes as Hugging Face through the GGUF tokenizer",
          "[tokenizers][bpe][golden]") {
  CheckCorpus(*testing::LoadSmolLmGguf(), "GGUF");
}

TEST_CASE("bpe golden: every corpus line encodes as Hugging Face through tokenizer.json",
          "[tokenizers][bpe][golden]") {
  CheckCorpus(*testing::LoadSmolLmJson(), "tokenizer.json");
}

TEST_CASE("bpe golden: decoding matches, and streaming gives the same text in pieces",
          "[tokenizers][bpe][golden]") {
  const std::unique_ptr<BpeTokenizer> gguf = testing::LoadSmolLmGguf();
  const std::unique_ptr<BpeTokenizer> from_json = testing::LoadSmolLmJson();
  size_t cases = 0;
  size_t passed = 0;
  std::vector<std::string> failures;
  for (const std::string& line : FixtureLines("cases.jsonl.gz")) {
    const json c = json::parse(line);
    if (c["case"] != "decode") continue;
    ++cases;
    const std::vector<uint32_t> ids = c["ids"].get<std::vector<uint32_t>>();
    const bool skip = c["skip_special_tokens"].get<bool>();
    const std::string expected = c["expect"].get<std::string>();
    std::string streamed;
    StreamingDecoder stream(*gguf, skip);
    for (uint32_t id : ids) streamed += stream.Push(id);
    streamed += stream.Finish();
    const std::string a = gguf->Decode(ids, skip);
    const std::string b = from_json->Decode(ids, skip);
    if (a == expected && b == expected && streamed == expected) {
      ++passed;
    } else if (failures.size() < 10) {
      failures.push_back(absl::StrCat("ids ", absl::StrJoin(ids, " "), " skip ", skip,
                                      "\n  expected ", json(expected).dump(), "\n  gguf     ",
                                      json(a).dump(), "\n  json     ", json(b).dump(),
                                      "\n  streamed ", json(streamed).dump()));
    }
  }
  REQUIRE(cases >= 500);
  INFO(passed << " of " << cases << " decode cases match; first mismatches:\n"
              << absl::StrJoin(failures, "\n"));
  CHECK(passed == cases);
}

TEST_CASE("bpe golden: every corpus line round-trips, streamed one token at a time",
          "[tokenizers][bpe][golden]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = testing::LoadSmolLmGguf();
  size_t passed = 0;
  std::vector<std::string> failures;
  for (const CorpusLine& line : Corpus()) {
    StreamingDecoder stream(*tokenizer, /*skip_special_tokens=*/false);
    std::string streamed;
    bool whole_characters = true;
    for (uint32_t id : line.parsed) {
      const std::string piece = stream.Push(id);
      // Every piece is valid UTF-8 on its own: no character is split across two.
      whole_characters = whole_characters && ValidateUtf8(piece).ok();
      streamed += piece;
    }
    streamed += stream.Finish();
    if (streamed == line.text && whole_characters &&
        tokenizer->Decode(line.parsed, /*skip_special_tokens=*/false) == line.text) {
      ++passed;
    } else if (failures.size() < 5) {
      failures.push_back(absl::StrCat(json(line.text).dump(), " -> ", json(streamed).dump()));
    }
  }
  INFO(absl::StrJoin(failures, "\n"));
  CHECK(passed == Corpus().size());
}

// The fixture tokenizer.json with a variant's normalizer, pre-tokenizer, post-processor and
// ignore_merges.
std::unique_ptr<BpeTokenizer> Variant(const json& variant) {
  json config = json::parse(ReadGzip(BpeFixturePath("smollm2_tokenizer.json.gz")));
  for (const auto& [key, value] : variant["config"].items()) config[key] = value;
  config["model"]["ignore_merges"] = variant["ignore_merges"];
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::FromJson(config.dump());
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

// The GGUF vocabulary with another pre-tokenizer name.
std::unique_ptr<BpeTokenizer> GgufVariant(const std::string& pre_tokenizer) {
  absl::StatusOr<std::unique_ptr<models::GgufFile>> file =
      models::GgufFile::Open(testing::SmolLmGgufPath());
  REQUIRE(file.ok());
  absl::StatusOr<BpeVocab> vocab = models::ReadGgufBpeVocab(**file);
  REQUIRE(vocab.ok());
  vocab->pre_tokenizer = pre_tokenizer;
  return testing::Build(*vocab);
}

TEST_CASE("bpe golden: Llama 3, Qwen2, GPT-2, prefix-space, NFC and template variants match",
          "[tokenizers][bpe][golden]") {
  // Variants that a GGUF pre-tokenizer name also stands for (without NFC: llama.cpp has none).
  const std::map<std::string, std::string> gguf_names = {
      {"gpt2", "gpt-2"}, {"llama3", "llama-bpe"}, {"qwen2", "qwen2"}};
  std::map<std::string, std::unique_ptr<BpeTokenizer>> json_variants;
  std::map<std::string, std::unique_ptr<BpeTokenizer>> gguf_variants;
  std::map<std::string, std::pair<size_t, size_t>> counts;  // passed, total
  std::vector<std::string> failures;
  for (const std::string& line : FixtureLines("cases.jsonl.gz")) {
    const json c = json::parse(line);
    if (c["case"] == "tokenizer") {
      const std::string name = c["variant"];
      json_variants[name] = Variant(c);
      if (gguf_names.count(name)) gguf_variants[name] = GgufVariant(gguf_names.at(name));
      continue;
    }
    if (c["case"] != "encode") continue;
    const std::string name = c["variant"];
    const std::string text = c["text"];
    const std::vector<uint32_t> expected = c["ids"].get<std::vector<uint32_t>>();
    const bool add = c["add_special_tokens"];
    for (const auto* variants : {&json_variants, &gguf_variants}) {
      auto it = variants->find(name);
      if (it == variants->end()) continue;
      const std::string label = absl::StrCat(name, variants == &json_variants ? " json" : " gguf");
      const absl::StatusOr<std::vector<uint32_t>> got =
          it->second->Encode(text, add, /*parse_special=*/true);
      auto& [passed, total] = counts[label];
      ++total;
      if (got.ok() && *got == expected) {
        ++passed;
      } else if (failures.size() < 10) {
        failures.push_back(Report(label, total, text, expected, got));
      }
    }
  }
  REQUIRE(counts.size() == 9);
  std::string summary;
  bool all = true;
  for (const auto& [label, count] : counts) {
    absl::StrAppend(&summary, label, ": ", count.first, "/", count.second, "\n");
    all = all && count.first == count.second;
  }
  INFO(summary << absl::StrJoin(failures, "\n"));
  CHECK(all);
}

}  // namespace
}  // namespace trustformers::tokenizers
