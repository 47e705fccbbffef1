// The public Tokenizer on the real all-MiniLM-L6-v2 tokenizer.json. Expected values were checked
// against tokenizers 0.23.3 (character offsets converted to UTF-8 byte offsets).
#include "tokenizers/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::tokenizers {
namespace {

using testing::LoadMiniLm;
using testing::Plain;

TEST_CASE("tokenizer: MiniLM's own settings truncate and pad to 128", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  REQUIRE(tokenizer->truncation().has_value());
  CHECK(tokenizer->truncation()->max_length == 128);
  REQUIRE(tokenizer->padding().has_value());
  CHECK(tokenizer->padding()->fixed_length == 128);

  absl::StatusOr<Encoding> encoding = tokenizer->Encode("Hello, World!");
  REQUIRE(encoding.ok());
  REQUIRE(encoding->size() == 128);
  CHECK(std::vector<uint32_t>(encoding->ids.begin(), encoding->ids.begin() + 8) ==
        std::vector<uint32_t>{101, 7592, 1010, 2088, 999, 102, 0, 0});
  CHECK(encoding->attention_mask[5] == 1);
  CHECK(encoding->attention_mask[6] == 0);
  CHECK(encoding->special_tokens_mask[6] == 1);
  CHECK(encoding->tokens[127] == "[PAD]");
}

TEST_CASE("tokenizer: byte offsets into the original text", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  absl::StatusOr<Encoding> encoding =
      tokenizer->Encode("H\u00e9llo \u4e2d\u6587 \U0001F600 na\u00efve", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->ids == std::vector<uint32_t>{101, 7592, 1746, 1861, 100, 15743, 102});
  CHECK(encoding->tokens ==
        std::vector<std::string>{"[CLS]", "hello", "中", "文", "[UNK]", "naive", "[SEP]"});
  CHECK(encoding->offsets ==
        std::vector<Offsets>{{0, 0}, {0, 6}, {7, 10}, {10, 13}, {14, 18}, {19, 25}, {0, 0}});
  CHECK(encoding->special_tokens_mask == std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 1});

  // A decomposed accent: the mark is dropped but stays inside its token's offsets.
  encoding = tokenizer->Encode("e\u0301t\u00e9", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->ids == std::vector<uint32_t>{101, 3802, 2063, 102});
  CHECK(encoding->offsets == std::vector<Offsets>{{0, 0}, {0, 4}, {4, 6}, {0, 0}});
}

TEST_CASE("tokenizer: special tokens written in the text are matched whole", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("[CLS] hi [MASK]there", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->ids == std::vector<uint32_t>{101, 101, 7632, 103, 2045, 102});
  CHECK(encoding->offsets ==
        std::vector<Offsets>{{0, 0}, {0, 5}, {6, 8}, {9, 15}, {15, 20}, {0, 0}});
  // From the text, not from the template: not marked special.
  CHECK(encoding->special_tokens_mask == std::vector<uint8_t>{1, 0, 0, 0, 0, 1});
}

TEST_CASE("tokenizer: pairs", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  absl::StatusOr<Encoding> encoding =
      tokenizer->EncodePair("Who wrote it?", "Zola wrote J'accuse.", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->ids == std::vector<uint32_t>{101, 2040, 2626, 2009, 1029, 102, 1062, 6030, 2626,
                                               1046, 1005, 26960, 1012, 102});
  CHECK(encoding->type_ids == std::vector<uint32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1});
  // Offsets of the second part refer to the second text.
  CHECK(encoding->offsets[6] == Offsets{0, 1});
  CHECK(encoding->offsets[12] == Offsets{19, 20});

  absl::StatusOr<Encoding> bare = tokenizer->EncodePair("hello", "world", Plain(false));
  REQUIRE(bare.ok());
  CHECK(bare->ids == std::vector<uint32_t>{7592, 2088});
  CHECK(bare->type_ids == std::vector<uint32_t>{0, 1});
}

TEST_CASE("tokenizer: per-call settings override the file's", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  EncodeOptions options = tokenizer->default_options();
  options.truncation->max_length = 4;
  options.padding.reset();
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("one two three four five", options);
  REQUIRE(encoding.ok());
  CHECK(encoding->tokens == std::vector<std::string>{"[CLS]", "one", "two", "[SEP]"});

  options.truncation->max_length = 1;  // fewer than the two special tokens
  CHECK(tokenizer->Encode("one", options).status().code() == absl::StatusCode::kInvalidArgument);

  options = Plain();
  options.padding = PaddingParams();
  options.padding->pad_to_multiple_of = 8;
  absl::StatusOr<std::vector<Encoding>> batch =
      tokenizer->EncodeBatch({"a", "hello world a b c d e f g"}, options);
  REQUIRE(batch.ok());
  CHECK((*batch)[0].size() == 16);
  CHECK((*batch)[1].size() == 16);

  options.padding->strategy = PaddingStrategy::kFixed;
  options.padding->fixed_length = kMaxPaddingLength + 1;
  CHECK(tokenizer->Encode("a", options).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(tokenizer->set_padding(options.padding).ok());
  tokenizer->set_truncation(std::nullopt);
  CHECK_FALSE(tokenizer->truncation().has_value());
}

TEST_CASE("tokenizer: decode and vocabulary lookups", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("Hello, World! I'm here.", Plain());
  REQUIRE(encoding.ok());
  CHECK(tokenizer->Decode(encoding->ids) == "hello, world! i ' m here.");
  CHECK(tokenizer->Decode(encoding->ids, false) == "[CLS] hello, world! i ' m here. [SEP]");
  // Unknown ids are skipped; [UNK] is special in this file, so skip_special_tokens drops it.
  CHECK(tokenizer->Decode(std::vector<uint32_t>{7592, 99999, 100, 2088}) == "hello world");
  CHECK(tokenizer->Decode(std::vector<uint32_t>{}).empty());

  CHECK(tokenizer->TokenToId("[CLS]") == std::optional<uint32_t>(101));
  CHECK(tokenizer->IdToToken(7592) == std::optional<std::string>("hello"));
  CHECK_FALSE(tokenizer->TokenToId("zzzqqq").has_value());
  CHECK_FALSE(tokenizer->IdToToken(40000).has_value());
  CHECK(tokenizer->vocab_size() == 30522);
}

TEST_CASE("tokenizer: empty and whitespace-only input", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  for (const char* text : {"", " ", "\t\n", "\u200b\u3000"}) {
    absl::StatusOr<Encoding> encoding = tokenizer->Encode(text, Plain());
    REQUIRE(encoding.ok());
    CHECK(encoding->ids == std::vector<uint32_t>{101, 102});
    absl::StatusOr<Encoding> bare = tokenizer->Encode(text, Plain(false));
    REQUIRE(bare.ok());
    CHECK(bare->size() == 0);
  }
}

TEST_CASE("tokenizer: random input never crashes and keeps the invariants", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = LoadMiniLm();
  // Pieces that exercise every stage: marks, ideographs, controls, special-token fragments,
  // long runs, and bytes that make the text invalid UTF-8.
  std::vector<std::string> pieces = absl::StrSplit(
      "a|Z| |\t|\n|\u00e9|e\u0301|\u0301|\u0323|\u4e2d|\uac00|\u3042|\U0001F600|\u200d|\ufe0f|"
      "\u0130|\u00df|\ufffd|\u200b|\u2028|!|'|##|[CLS]|[MASK]|[|]|MASK|0|\u0663|\u05d0|\u0e01|"
      "\u0915\u094d|\u2e4f|x|\xff|\xc3|\xed\xa0\x80|\xe0\x80\xaf",
      '|');
  pieces.push_back(std::string(1, '\0'));
  pieces.push_back(std::string(120, 'q'));
  std::mt19937 random(42);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int count = static_cast<int>(random() % 24);
    for (int i = 0; i < count; ++i) text += pieces[random() % pieces.size()];
    EncodeOptions options = Plain(random() % 2 == 0);
    if (random() % 3 == 0) {
      options.truncation = TruncationParams();
      options.truncation->max_length = 3 + random() % 10;
      options.truncation->direction = random() % 2 ? Side::kLeft : Side::kRight;
    }
    absl::StatusOr<Encoding> encoding = tokenizer->Encode(text, options);
    if (!encoding.ok()) {
      CHECK(encoding.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    const size_t n = encoding->size();
    REQUIRE(encoding->type_ids.size() == n);
    REQUIRE(encoding->tokens.size() == n);
    REQUIRE(encoding->offsets.size() == n);
    REQUIRE(encoding->special_tokens_mask.size() == n);
    REQUIRE(encoding->attention_mask.size() == n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(encoding->offsets[i].start <= encoding->offsets[i].end);
      CHECK(encoding->offsets[i].end <= text.size());
      CHECK(tokenizer->IdToToken(encoding->ids[i]).has_value());
    }
    (void)tokenizer->Decode(encoding->ids, random() % 2 == 0);
  }
}

}  // namespace
}  // namespace trustformers::tokenizers
