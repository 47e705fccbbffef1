// Expected text was checked against tokenizers 0.23.3's decoders.WordPiece().decode(tokens).
#include "tokenizers/wordpiece_decoder.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

std::string Decode(const std::vector<std::string>& tokens, bool cleanup = true) {
  return WordPieceDecoder("##", cleanup).Decode(tokens);
}

TEST_CASE("wordpiece decoder: joins continuations, spaces words", "[tokenizers]") {
  CHECK(Decode({"un", "##aff", "##able"}) == "unaffable");
  CHECK(Decode({"##start", "x"}) == "##start x");  // the first token keeps its prefix
  CHECK(Decode({}).empty());
}

TEST_CASE("wordpiece decoder: cleanup works token by token", "[tokenizers]") {
  CHECK(Decode({"hello", ",", "world", "!"}) == "hello, world!");
  CHECK(Decode({"it", "'", "s"}) == "it ' s");  // " ' " spans two tokens: untouched
  CHECK(Decode({"i", "do", "not", "know", "."}) == "i do not know.");
  CHECK(Decode({"a", "n't", "'m", "'s", "'ve", "'re", "?", "' "}) == "an't'm's've're?'");
  CHECK(Decode({"hello", ",", "##s", "!"}, /*cleanup=*/false) == "hello ,s !");
}

TEST_CASE("wordpiece decoder: json", "[tokenizers]") {
  absl::StatusOr<WordPieceDecoder> decoder =
      WordPieceDecoder::FromJson(nlohmann::json::parse(R"({"type": "WordPiece"})"));
  REQUIRE(decoder.ok());  // prefix and cleanup default to "##" and true
  CHECK(decoder->Decode({"a", "##b", "."}) == "ab.");
  CHECK(WordPieceDecoder::FromJson(nlohmann::json::parse(R"({"prefix": 3})")).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(
      WordPieceDecoder::FromJson(nlohmann::json::parse(R"({"cleanup": "yes"})")).status().code() ==
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::tokenizers
