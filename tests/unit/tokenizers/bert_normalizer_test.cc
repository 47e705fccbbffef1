// Expected strings were checked against tokenizers 0.23.3's normalizers.BertNormalizer
// (normalize_str) with the same options.
#include "tokenizers/bert_normalizer.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

std::string Normalize(const BertNormalizerOptions& options, const std::string& text) {
  NormalizedString normalized = NormalizedString::FromUtf8(text, 0);
  BertNormalizer(options).Normalize(&normalized);
  return normalized.ToUtf8();
}

std::vector<Offsets> Sources(const BertNormalizerOptions& options, const std::string& text) {
  NormalizedString normalized = NormalizedString::FromUtf8(text, 0);
  BertNormalizer(options).Normalize(&normalized);
  std::vector<Offsets> sources;
  for (const AlignedChar& c : normalized.chars()) sources.push_back(c.source);
  return sources;
}

TEST_CASE("bert normalizer: uncased defaults", "[tokenizers]") {
  const BertNormalizerOptions uncased;
  CHECK(Normalize(uncased, std::string("H\xc3\xa9llo\tW\xc3\xb6rld\x00!", 15)) == "hello world!");
  CHECK(Normalize(uncased, "中文abc") == " 中  文 abc");
  // ZWSP, BOM (Cf), U+FFFD, VT and NEL (Cc) go; NBSP and ideographic space become spaces.
  CHECK(Normalize(uncased,
                  "a\u200bb\ufeffc\ufffd\x0b"
                  "d\u0085e\u00a0f\u3000g") == "abcde f g");
  CHECK(Normalize(uncased, "Vi\u1ec7t Nam") == "viet nam");
  CHECK(Normalize(uncased, "\u01c5 \u1e9e \u2126 \u0130") == "\u01c6 \u00df \u03c9 i");
  CHECK(Normalize(uncased, "\u0301a") == "a");    // a lone leading mark disappears
  CHECK(Normalize(uncased, "x\u0344y") == "xy");  // decomposes into two marks, both dropped
}

TEST_CASE("bert normalizer: cased, strip-only and lowercase-only", "[tokenizers]") {
  BertNormalizerOptions cased;
  cased.lowercase = false;  // strip_accents unset: follows lowercase, so accents stay
  CHECK(Normalize(cased, "H\u00e9llo \u0130 Vi\u1ec7t") == "H\u00e9llo \u0130 Vi\u1ec7t");
  CHECK(Normalize(cased, "中") == " 中 ");

  BertNormalizerOptions strip_only;
  strip_only.lowercase = false;
  strip_only.strip_accents = true;
  strip_only.clean_text = false;
  strip_only.handle_chinese_chars = false;
  CHECK(Normalize(strip_only, std::string("H\u00e9llo\x00 \u0130 中", 14)) ==
        std::string("Hello\x00 I 中", 12));

  BertNormalizerOptions lower_only;
  lower_only.strip_accents = false;
  // U+0130 lowercases to two code points, "i" + COMBINING DOT ABOVE.
  CHECK(Normalize(lower_only, "\u0130STANBUL \u00dcn\u00efcode") ==
        "i\u0307stanbul \u00fcn\u00efcode");
}

TEST_CASE("bert normalizer: every output character remembers its input bytes", "[tokenizers]") {
  const BertNormalizerOptions uncased;
  // "Héllo": é is two bytes, so the e that survives accent stripping covers [1, 3).
  CHECK(Sources(uncased, "H\u00e9llo") ==
        std::vector<Offsets>{{0, 1}, {1, 3}, {3, 4}, {4, 5}, {5, 6}});
  // The spaces put around an ideograph point at the ideograph.
  CHECK(Sources(uncased, "a中") == std::vector<Offsets>{{0, 1}, {1, 4}, {1, 4}, {1, 4}});
  // Removed characters leave no trace; their neighbours keep their own bytes.
  CHECK(Sources(uncased, "a\u200bb") == std::vector<Offsets>{{0, 1}, {4, 5}});
  BertNormalizerOptions lower_only;
  lower_only.strip_accents = false;
  CHECK(Sources(lower_only, "\u0130x") == std::vector<Offsets>{{0, 2}, {0, 2}, {2, 3}});
}

TEST_CASE("bert normalizer: json options", "[tokenizers]") {
  absl::StatusOr<BertNormalizer> normalizer = BertNormalizer::FromJson(nlohmann::json::parse(
      R"({"type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": true,
          "strip_accents": true, "lowercase": false})"));
  REQUIRE(normalizer.ok());
  CHECK_FALSE(normalizer->options().clean_text);
  CHECK(normalizer->options().strip_accents == std::optional<bool>(true));
  CHECK_FALSE(normalizer->options().lowercase);

  CHECK(BertNormalizer::FromJson(nlohmann::json::parse(
                                     R"({"clean_text": 1, "handle_chinese_chars": true,
                                         "strip_accents": null, "lowercase": true})"))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(BertNormalizer::FromJson(nlohmann::json::parse(
                                     R"({"clean_text": true, "handle_chinese_chars": true,
                                         "strip_accents": "yes", "lowercase": true})"))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(
      BertNormalizer::FromJson(nlohmann::json::parse(R"({"clean_text": true})")).status().code() ==
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::tokenizers
