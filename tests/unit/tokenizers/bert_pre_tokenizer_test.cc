// Expected words and offsets were checked against tokenizers 0.23.3's
// pre_tokenizers.BertPreTokenizer().pre_tokenize_str (character offsets, converted to bytes).
#include "tokenizers/bert_pre_tokenizer.h"

#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"

namespace trustformers::tokenizers {
namespace {

using Words = std::vector<std::pair<std::string, Offsets>>;

Words Split(const std::string& text) {
  std::vector<NormalizedString> pieces;
  BertPreTokenizer::Split(NormalizedString::FromUtf8(text, 0), &pieces);
  Words words;
  for (const NormalizedString& piece : pieces) {
    words.emplace_back(piece.ToUtf8(), piece.SourceRange(0, piece.size()));
  }
  return words;
}

TEST_CASE("bert pre-tokenizer: whitespace splits, punctuation stands alone", "[tokenizers]") {
  CHECK(Split("Hey friend!     How are you?!?") == Words{{"Hey", {0, 3}},
                                                         {"friend", {4, 10}},
                                                         {"!", {10, 11}},
                                                         {"How", {16, 19}},
                                                         {"are", {20, 23}},
                                                         {"you", {24, 27}},
                                                         {"?", {27, 28}},
                                                         {"!", {28, 29}},
                                                         {"?", {29, 30}}});
  CHECK(Split("don't") == Words{{"don", {0, 3}}, {"'", {3, 4}}, {"t", {4, 5}}});
  CHECK(Split("_under_score") ==
        Words{{"_", {0, 1}}, {"under", {1, 6}}, {"_", {6, 7}}, {"score", {7, 12}}});
}

TEST_CASE("bert pre-tokenizer: ASCII symbols count as punctuation", "[tokenizers]") {
  CHECK(Split("a$b+c^d`e|f~g") == Words{{"a", {0, 1}},
                                        {"$", {1, 2}},
                                        {"b", {2, 3}},
                                        {"+", {3, 4}},
                                        {"c", {4, 5}},
                                        {"^", {5, 6}},
                                        {"d", {6, 7}},
                                        {"`", {7, 8}},
                                        {"e", {8, 9}},
                                        {"|", {9, 10}},
                                        {"f", {10, 11}},
                                        {"~", {11, 12}},
                                        {"g", {12, 13}}});
}

TEST_CASE("bert pre-tokenizer: Unicode punctuation and whitespace", "[tokenizers]") {
  // « » — … 。 are P*; NBSP and LINE SEPARATOR are whitespace.
  CHECK(Split("«quote» — dash… end。") == Words{{"«", {0, 2}},
                                                {"quote", {2, 7}},
                                                {"»", {7, 9}},
                                                {"—", {10, 13}},
                                                {"dash", {14, 18}},
                                                {"…", {18, 21}},
                                                {"end", {22, 25}},
                                                {"。", {25, 28}}});
  CHECK(Split("x\u00a0y\u2028z") == Words{{"x", {0, 1}}, {"y", {3, 4}}, {"z", {7, 8}}});
  CHECK(Split("¿¡") == Words{{"¿", {0, 2}}, {"¡", {2, 4}}});
  CHECK(Split("   ").empty());
  CHECK(Split("").empty());
}

}  // namespace
}  // namespace trustformers::tokenizers
