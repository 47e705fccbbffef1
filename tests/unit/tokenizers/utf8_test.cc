// UTF-8 validation: every kind of ill-formed input (truncated, overlong, surrogates, bytes that
// never occur) is INVALID_ARGUMENT naming where it starts, also through the Tokenizer.
#include "tokenizers/utf8.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "catch2/catch.hpp"
#include "tokenizers/tokenizer.h"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::tokenizers {
namespace {

// The offset ValidateUtf8 reports for `bytes`, or -1 when they are valid.
long BadOffset(const std::string& bytes) {
  const absl::Status status = ValidateUtf8(bytes);
  if (status.ok()) return -1;
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  const size_t at = message.find("byte offset ");
  REQUIRE(at != std::string::npos);
  return std::stol(message.substr(at + 12));
}

TEST_CASE("utf8: well-formed text at every sequence length and boundary", "[tokenizers]") {
  for (const char* text :
       {"", "plain ASCII \x7f", "\xc2\x80 \xdf\xbf", "\xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf",
        "\xee\x80\x80", "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",
        "h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80"}) {
    INFO(text);
    CHECK(BadOffset(text) == -1);
  }
}

TEST_CASE("utf8: ill-formed sequences report the offset where they start", "[tokenizers]") {
  struct Case {
    std::string bytes;
    long offset;
  };
  const Case cases[] = {
      {"ab\xc3", 2},                    // truncated 2-byte sequence at the end
      {"ab\xc3z", 2},                   // ... followed by ASCII
      {"\xe4\xb8", 0},                  // truncated 3-byte sequence
      {"x\xe4\xb8y", 1},                //
      {"\xf0\x9f\x98", 0},              // truncated 4-byte sequence
      {"ok \xf0\x9f\x98\x20", 3},       //
      {"\xc0\xaf", 0},                  // overlong '/'
      {"\xc1\xbf", 0},                  // overlong
      {"a\xe0\x80\xaf", 1},             // overlong 3-byte
      {"a\xe0\x9f\xbf", 1},             // overlong 3-byte, highest
      {"\xf0\x80\x80\xaf", 0},          // overlong 4-byte
      {"\xf0\x8f\xbf\xbf", 0},          // overlong 4-byte, highest
      {"12\xed\xa0\x80", 2},            // high surrogate U+D800
      {"\xed\xbf\xbf", 0},              // low surrogate U+DFFF
      {"\xed\xa0\xbd\xed\xb8\x80", 0},  // a surrogate pair, CESU-8 style
      {"\xf4\x90\x80\x80", 0},          // U+110000
      {"\xf5\x80\x80\x80", 0},          // lead byte beyond U+10FFFF
      {"abc\xff", 3},                   // 0xFF never appears
      {"\xfe", 0},                      //
      {"\x80", 0},                      // continuation without a lead
      {"\xc3\xa9\xa9", 2},              // one continuation too many
      {"\xe4\xb8\xad\xe4", 3},          // good character, then a truncated one
  };
  for (const Case& c : cases) {
    INFO(absl::CEscape(c.bytes));
    CHECK(BadOffset(c.bytes) == c.offset);
  }
}

TEST_CASE("utf8: decode and encode round-trip every kind of scalar value", "[tokenizers]") {
  for (char32_t c : {U'\0', U'a', char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF}, char32_t{0x800},
                     char32_t{0xD7FF}, char32_t{0xE000}, char32_t{0xFFFF}, char32_t{0x10000},
                     char32_t{0x10FFFF}}) {
    std::string bytes;
    AppendUtf8(c, &bytes);
    CHECK(bytes.size() == Utf8Length(c));
    REQUIRE(ValidateUtf8(bytes).ok());
    size_t pos = 0;
    CHECK(DecodeUtf8(bytes, &pos) == c);
    CHECK(pos == bytes.size());
  }
}

TEST_CASE("utf8: the tokenizer refuses invalid input with the offset", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadConfig(testing::TinyBertConfig());
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("hello \xed\xa0\x80 world");
  REQUIRE(encoding.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(encoding.status().message(), "byte offset 6"));

  absl::StatusOr<Encoding> pair = tokenizer->EncodePair("hello", "wor\xffld");
  REQUIRE(pair.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(pair.status().message(), "second text"));
  CHECK(absl::StrContains(pair.status().message(), "byte offset 3"));

  absl::StatusOr<std::vector<Encoding>> batch =
      tokenizer->EncodeBatch({"hello", "world", std::string("a\xc3", 2)});
  REQUIRE(batch.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(batch.status().message(), "batch item 2"));
  CHECK(absl::StrContains(batch.status().message(), "byte offset 1"));
}

}  // namespace
}  // namespace trustformers::tokenizers
