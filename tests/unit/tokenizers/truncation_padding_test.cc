// Lengths follow Hugging Face's truncate_encodings and pad_encodings; the pair cases were checked
// against tokenizers 0.23.3 (enable_truncation / enable_padding on the MiniLM tokenizer).
#include <numeric>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/padding.h"
#include "tokenizers/truncation.h"

namespace trustformers::tokenizers {
namespace {

Encoding OfLength(size_t length, uint32_t first_id = 1) {
  Encoding encoding;
  for (uint32_t i = 0; i < length; ++i) {
    encoding.Push(first_id + i, 0, "t", {i, i + 1}, 0, 1);
  }
  return encoding;
}

TruncationParams Params(size_t max_length,
                        TruncationStrategy strategy = TruncationStrategy::kLongestFirst,
                        Side side = Side::kRight) {
  TruncationParams params;
  params.max_length = max_length;
  params.strategy = strategy;
  params.direction = side;
  return params;
}

std::pair<size_t, size_t> PairLengths(size_t a_length, size_t b_length, size_t max_length) {
  Encoding a = OfLength(a_length);
  Encoding b = OfLength(b_length);
  REQUIRE(Truncate(Params(max_length), &a, &b).ok());
  return {a.size(), b.size()};
}

TEST_CASE("truncation: single sequences keep the chosen end", "[tokenizers]") {
  Encoding right = OfLength(10);
  REQUIRE(Truncate(Params(4), &right, nullptr).ok());
  CHECK(right.ids == std::vector<uint32_t>{1, 2, 3, 4});
  Encoding left = OfLength(10);
  REQUIRE(Truncate(Params(4, TruncationStrategy::kLongestFirst, Side::kLeft), &left, nullptr).ok());
  CHECK(left.ids == std::vector<uint32_t>{7, 8, 9, 10});
  CHECK(left.offsets.front() == Offsets{6, 7});
  Encoding short_enough = OfLength(3);
  REQUIRE(Truncate(Params(4), &short_enough, nullptr).ok());
  CHECK(short_enough.size() == 3);
}

TEST_CASE("truncation: LongestFirst on pairs", "[tokenizers]") {
  CHECK(PairLengths(10, 200, 126) == std::pair<size_t, size_t>{10, 116});  // only the longer
  CHECK(PairLengths(200, 10, 126) == std::pair<size_t, size_t>{116, 10});
  CHECK(PairLengths(100, 100, 126) == std::pair<size_t, size_t>{63, 63});  // both, evenly
  CHECK(PairLengths(100, 100, 127) == std::pair<size_t, size_t>{63, 64});  // tie: b gets more
  CHECK(PairLengths(100, 80, 51) == std::pair<size_t, size_t>{26, 25});    // longer gets more
  CHECK(PairLengths(5, 3, 3) == std::pair<size_t, size_t>{2, 1});
  CHECK(PairLengths(5, 3, 0) == std::pair<size_t, size_t>{0, 0});
  CHECK(PairLengths(5, 3, 8) == std::pair<size_t, size_t>{5, 3});

  Encoding a = OfLength(5);
  Encoding b = OfLength(3, 100);
  REQUIRE(Truncate(Params(3, TruncationStrategy::kLongestFirst, Side::kLeft), &a, &b).ok());
  CHECK(a.ids == std::vector<uint32_t>{4, 5});
  CHECK(b.ids == std::vector<uint32_t>{102});
}

TEST_CASE("truncation: OnlyFirst / OnlySecond and their failures", "[tokenizers]") {
  Encoding a = OfLength(10);
  Encoding b = OfLength(5);
  REQUIRE(Truncate(Params(12, TruncationStrategy::kOnlyFirst), &a, &b).ok());
  CHECK(a.size() == 7);
  CHECK(b.size() == 5);

  Encoding c = OfLength(10);
  Encoding d = OfLength(5);
  REQUIRE(Truncate(Params(12, TruncationStrategy::kOnlySecond), &c, &d).ok());
  CHECK(c.size() == 10);
  CHECK(d.size() == 2);

  Encoding e = OfLength(10);
  Encoding f = OfLength(2);
  CHECK(Truncate(Params(5, TruncationStrategy::kOnlySecond), &e, &f).code() ==
        absl::StatusCode::kInvalidArgument);  // the second has too few tokens to lose
  Encoding single = OfLength(10);
  CHECK(Truncate(Params(5, TruncationStrategy::kOnlySecond), &single, nullptr).code() ==
        absl::StatusCode::kInvalidArgument);  // no second sequence

  TruncationParams strided = Params(2);
  strided.stride = 2;
  Encoding g = OfLength(10);
  CHECK(Truncate(strided, &g, nullptr).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("truncation: json", "[tokenizers]") {
  absl::StatusOr<TruncationParams> params = ParseTruncation(nlohmann::json::parse(
      R"({"max_length": 64, "strategy": "OnlySecond", "stride": 0, "direction": "Left"})"));
  REQUIRE(params.ok());
  CHECK(params->max_length == 64);
  CHECK(params->strategy == TruncationStrategy::kOnlySecond);
  CHECK(params->direction == Side::kLeft);
  // direction defaults to Right, as in files written before it existed.
  params = ParseTruncation(
      nlohmann::json::parse(R"({"max_length": 8, "strategy": "LongestFirst", "stride": 0})"));
  REQUIRE(params.ok());
  CHECK(params->direction == Side::kRight);
  for (const char* bad : {R"({"max_length": -1, "strategy": "LongestFirst", "stride": 0})",
                          R"({"max_length": 8, "strategy": "Longest", "stride": 0})",
                          R"({"max_length": 8, "strategy": "LongestFirst"})",
                          R"({"max_length": 8, "strategy": "LongestFirst", "stride": 0,
                              "direction": "Up"})",
                          R"([8])"}) {
    INFO(bad);
    CHECK(ParseTruncation(nlohmann::json::parse(bad)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("padding: fixed, batch-longest, multiples and sides", "[tokenizers]") {
  PaddingParams fixed;
  fixed.strategy = PaddingStrategy::kFixed;
  fixed.fixed_length = 5;
  fixed.pad_id = 0;
  fixed.pad_type_id = 2;
  fixed.pad_token = "[PAD]";
  std::vector<Encoding> one = {OfLength(3)};
  Pad(fixed, one);
  CHECK(one[0].ids == std::vector<uint32_t>{1, 2, 3, 0, 0});
  CHECK(one[0].type_ids == std::vector<uint32_t>{0, 0, 0, 2, 2});
  CHECK(one[0].tokens.back() == "[PAD]");
  CHECK(one[0].offsets.back() == Offsets{0, 0});
  CHECK(one[0].special_tokens_mask == std::vector<uint8_t>{0, 0, 0, 1, 1});
  CHECK(one[0].attention_mask == std::vector<uint8_t>{1, 1, 1, 0, 0});

  fixed.direction = Side::kLeft;
  std::vector<Encoding> left = {OfLength(3), OfLength(7)};
  Pad(fixed, left);
  CHECK(left[0].ids == std::vector<uint32_t>{0, 0, 1, 2, 3});
  CHECK(left[0].attention_mask == std::vector<uint8_t>{0, 0, 1, 1, 1});
  CHECK(left[1].size() == 7);  // longer than the fixed length: left alone

  PaddingParams longest;
  longest.pad_to_multiple_of = 8;
  std::vector<Encoding> batch = {OfLength(3), OfLength(11)};
  Pad(longest, batch);
  CHECK(batch[0].size() == 16);
  CHECK(batch[1].size() == 16);

  fixed.fixed_length = 10;
  fixed.pad_to_multiple_of = 16;  // the multiple applies to the fixed length too
  std::vector<Encoding> rounded = {OfLength(1)};
  Pad(fixed, rounded);
  CHECK(rounded[0].size() == 16);
}

TEST_CASE("padding: json and limits", "[tokenizers]") {
  absl::StatusOr<PaddingParams> params = ParsePadding(nlohmann::json::parse(
      R"({"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
          "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"})"));
  REQUIRE(params.ok());
  CHECK(params->strategy == PaddingStrategy::kFixed);
  CHECK(params->fixed_length == 128);
  params = ParsePadding(nlohmann::json::parse(
      R"({"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 8,
          "pad_id": 3, "pad_type_id": 1, "pad_token": "<pad>"})"));
  REQUIRE(params.ok());
  CHECK(params->strategy == PaddingStrategy::kBatchLongest);
  CHECK(params->pad_to_multiple_of == 8);
  CHECK(params->pad_token == "<pad>");
  for (const char* bad : {
           R"({"strategy": "Longest", "direction": "Right", "pad_id": 0, "pad_type_id": 0,
               "pad_token": "[PAD]"})",
           R"({"strategy": {"Fixed": -5}, "direction": "Right", "pad_id": 0, "pad_type_id": 0,
               "pad_token": "[PAD]"})",
           R"({"strategy": {"Fixed": 1099511627776}, "direction": "Right", "pad_id": 0,
               "pad_type_id": 0, "pad_token": "[PAD]"})",
           R"({"strategy": "BatchLongest", "direction": "Right", "pad_id": "0",
               "pad_type_id": 0, "pad_token": "[PAD]"})",
           R"({"strategy": "BatchLongest", "direction": "Right", "pad_id": 0,
               "pad_type_id": 0})",
       }) {
    INFO(bad);
    CHECK(ParsePadding(nlohmann::json::parse(bad)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace trustformers::tokenizers
