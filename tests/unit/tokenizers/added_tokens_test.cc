// Added tokens with every flag, on the MiniLM tokenizer.json plus two extra tokens. Expected
// values were checked against tokenizers 0.23.3 loading the same JSON (Tokenizer.from_str).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/tokenizer.h"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::tokenizers {
namespace {

using testing::Plain;

std::unique_ptr<Tokenizer> MiniLmWithExtraTokens() {
  std::ifstream in(testing::MiniLmTokenizerPath());
  REQUIRE(in.good());
  nlohmann::json config = nlohmann::json::parse(in);
  // Normalised, so it matches "HELLO WORLD" too, and it absorbs the spaces around it.
  config["added_tokens"].push_back({{"id", 5},
                                    {"content", "Hello World"},
                                    {"special", false},
                                    {"single_word", false},
                                    {"lstrip", true},
                                    {"rstrip", true},
                                    {"normalized", true}});
  // Raw, whole words only; the "id" in the file is not what it gets.
  config["added_tokens"].push_back({{"id", 5},
                                    {"content", "<xx>"},
                                    {"special", true},
                                    {"single_word", true},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", false}});
  return testing::LoadConfig(config);
}

TEST_CASE("added tokens: normalised, stripped, single-word", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = MiniLmWithExtraTokens();
  struct Case {
    std::string text;
    std::vector<uint32_t> ids;
    std::vector<std::string> tokens;
    std::vector<Offsets> offsets;
  };
  const Case cases[] = {
      {"say  hello world  now",
       {101, 2360, 30522, 2085, 102},
       {"[CLS]", "say", "  hello world  ", "now", "[SEP]"},
       {{0, 0}, {0, 3}, {3, 18}, {18, 21}, {0, 0}}},
      {"HELLO WORLD",
       {101, 30522, 102},
       {"[CLS]", "hello world", "[SEP]"},
       {{0, 0}, {0, 11}, {0, 0}}},
      {"a<xx> <xx> b",
       {101, 1037, 1026, 22038, 1028, 30523, 1038, 102},
       {"[CLS]", "a", "<", "xx", ">", "<xx>", "b", "[SEP]"},
       {{0, 0}, {0, 1}, {1, 2}, {2, 4}, {4, 5}, {6, 10}, {11, 12}, {0, 0}}},
      {"<xx>", {101, 30523, 102}, {"[CLS]", "<xx>", "[SEP]"}, {{0, 0}, {0, 4}, {0, 0}}},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    absl::StatusOr<Encoding> encoding = tokenizer->Encode(c.text, Plain());
    REQUIRE(encoding.ok());
    CHECK(encoding->ids == c.ids);
    CHECK(encoding->tokens == c.tokens);
    CHECK(encoding->offsets == c.offsets);
  }
}

TEST_CASE("added tokens: ids, lookups and decoding", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = MiniLmWithExtraTokens();
  CHECK(tokenizer->TokenToId("Hello World") == std::optional<uint32_t>(30522));
  // A normalised token decodes to its normalised form.
  CHECK(tokenizer->IdToToken(30522) == std::optional<std::string>("hello world"));
  CHECK(tokenizer->IdToToken(30523) == std::optional<std::string>("<xx>"));
  CHECK(tokenizer->vocab_size() == 30524);
  CHECK(tokenizer->Decode(std::vector<uint32_t>{30522, 30523, 7592}) == "hello world hello");
  CHECK(tokenizer->Decode(std::vector<uint32_t>{30522, 30523, 7592}, false) ==
        "hello world <xx> hello");
}

TEST_CASE("added tokens: leftmost-longest matching", "[tokenizers]") {
  nlohmann::json config = testing::TinyBertConfig();
  for (const char* content : {"ab", "abc", "bcd"}) {
    config["added_tokens"].push_back(
        {{"id", 0}, {"content", content}, {"special", false}, {"normalized", false}});
  }
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadConfig(config);
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("xabcd abcd", Plain(false));
  REQUIRE(encoding.ok());
  // "abc" wins over "ab" (longest) and over "bcd" (leftmost); then "d" is left to the model.
  CHECK(encoding->tokens == std::vector<std::string>{"[UNK]", "abc", "[UNK]", "abc", "[UNK]"});
  CHECK(encoding->offsets == std::vector<Offsets>{{0, 1}, {1, 4}, {4, 5}, {6, 9}, {9, 10}});
  CHECK(tokenizer->TokenToId("ab") == std::optional<uint32_t>(16));
  CHECK(tokenizer->TokenToId("bcd") == std::optional<uint32_t>(18));
}

}  // namespace
}  // namespace trustformers::tokenizers
