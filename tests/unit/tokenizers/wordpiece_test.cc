// Expected pieces were checked against tokenizers 0.23.3's models.WordPiece(vocab,
// unk_token="[UNK]", max_input_chars_per_word=8).tokenize(word).
#include "tokenizers/wordpiece.h"

#include <string>
#include <tuple>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

using Pieces = std::vector<std::tuple<uint32_t, std::string, size_t, size_t>>;

WordPiece SmallModel() {
  WordPiece::Vocab vocab = {{"[UNK]", 0},    {"un", 1},   {"##aff", 2}, {"##able", 3},
                            {"aff", 4},      {"able", 5}, {"##a", 6},   {"\u00e9", 7},
                            {"##\u00e9", 8}, {"x", 9},    {"##x", 10},  {"unaffable", 11}};
  WordPiece::Options options;
  options.max_input_chars_per_word = 8;
  return WordPiece(std::move(vocab), options);
}

Pieces Tokenize(const WordPiece& model, const std::string& word) {
  std::vector<WordPiece::Piece> pieces;
  REQUIRE(model.Tokenize(word, &pieces).ok());
  Pieces out;
  for (const WordPiece::Piece& p : pieces) out.emplace_back(p.id, *p.token, p.begin, p.end);
  return out;
}

TEST_CASE("wordpiece: greedy longest match from the left", "[tokenizers]") {
  const WordPiece model = SmallModel();
  CHECK(Tokenize(model, "unaff") == Pieces{{1, "un", 0, 2}, {2, "##aff", 2, 5}});
  CHECK(Tokenize(model, "affable") == Pieces{{4, "aff", 0, 3}, {3, "##able", 3, 7}});
  CHECK(Tokenize(model, "xx") == Pieces{{9, "x", 0, 1}, {10, "##x", 1, 2}});
  // Multi-byte characters: offsets are bytes of the word.
  CHECK(Tokenize(model, "\u00e9\u00e9") == Pieces{{7, "\u00e9", 0, 2}, {8, "##\u00e9", 2, 4}});
  CHECK(Tokenize(model, "x\u00e9") == Pieces{{9, "x", 0, 1}, {8, "##\u00e9", 1, 3}});
  CHECK(Tokenize(model, "xxxxxxxx").size() == 8);  // exactly max_input_chars_per_word
}

TEST_CASE("wordpiece: unknown words become one [UNK] over the whole word", "[tokenizers]") {
  const WordPiece model = SmallModel();
  CHECK(Tokenize(model, "unafable") == Pieces{{0, "[UNK]", 0, 8}});  // no "##f..." piece
  CHECK(Tokenize(model, "q") == Pieces{{0, "[UNK]", 0, 1}});
  CHECK(Tokenize(model, "unaffablex") == Pieces{{0, "[UNK]", 0, 10}});  // over the limit
  CHECK(Tokenize(model, "unaffable") == Pieces{{0, "[UNK]", 0, 9}});    // in vocab, still too long
  CHECK(Tokenize(model, "xxxxxxxxx") == Pieces{{0, "[UNK]", 0, 9}});
  // The limit counts code points, not bytes: 8 two-byte characters fit.
  CHECK(Tokenize(model, "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9").size() == 8);
}

TEST_CASE("wordpiece: a vocabulary without its unknown token", "[tokenizers]") {
  WordPiece model(WordPiece::Vocab{{"a", 0}}, WordPiece::Options{});
  std::vector<WordPiece::Piece> pieces;
  CHECK(model.Tokenize("a", &pieces).ok());
  const absl::Status status = model.Tokenize("b", &pieces);
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("wordpiece: lookups both ways", "[tokenizers]") {
  const WordPiece model = SmallModel();
  CHECK(model.TokenToId("##able") == std::optional<uint32_t>(3));
  CHECK_FALSE(model.TokenToId("zzz").has_value());
  REQUIRE(model.IdToToken(11) != nullptr);
  CHECK(*model.IdToToken(11) == "unaffable");
  CHECK(model.IdToToken(12) == nullptr);
  CHECK(model.vocab_size() == 12);
}

TEST_CASE("wordpiece: json model", "[tokenizers]") {
  auto parse = [](const char* text) { return WordPiece::FromJson(nlohmann::json::parse(text)); };
  absl::StatusOr<std::unique_ptr<WordPiece>> model =
      parse(R"({"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "@@",
                "max_input_chars_per_word": 5, "vocab": {"<unk>": 0, "ab": 1, "@@c": 2}})");
  REQUIRE(model.ok());
  std::vector<WordPiece::Piece> pieces;
  REQUIRE((*model)->Tokenize("abc", &pieces).ok());
  REQUIRE(pieces.size() == 2);
  CHECK(*pieces[1].token == "@@c");

  for (const char* bad : {
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100})",
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100, "vocab": ["a", "b"]})",
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": -1, "vocab": {}})",
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100, "vocab": {"a": -3}})",
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100, "vocab": {"a": 4294967296}})",
           R"({"unk_token": "[UNK]", "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100, "vocab": {"a": 1.5}})",
           R"({"unk_token": 7, "continuing_subword_prefix": "##",
               "max_input_chars_per_word": 100, "vocab": {}})",
       }) {
    INFO(bad);
    CHECK(parse(bad).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace trustformers::tokenizers
