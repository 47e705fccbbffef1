// Text-classification files tokenized for training: the ids, type ids and longest-first
// truncation Hugging Face gives for the same texts (expected ids computed with tokenizers 0.23.3
// and transformers 5.24.0 on all-MiniLM-L6-v2: tokenizer(text, text_pair, truncation=True,
// max_length=N)), which records were cut, labels carried through, and errors with their lines.
#include "engine/training/text_dataset.h"

#include <memory>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/training/line_error.h"
#include "unit/temp_dir.h"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::training {
namespace {

using Ids = std::vector<int32_t>;

TextRecord Record(std::string text, std::optional<std::string> pair, int64_t line) {
  TextRecord record;
  record.text = std::move(text);
  record.text_pair = std::move(pair);
  record.line = line;
  return record;
}

const tokenizers::Tokenizer& MiniLm() {
  static const std::unique_ptr<tokenizers::Tokenizer> tokenizer = tokenizers::testing::LoadMiniLm();
  return *tokenizer;
}

// Tokenizes one record at max_length; its label is 0.
nn::TextExample TokenizeOne(const TextRecord& record, size_t max_length, bool* truncated) {
  absl::StatusOr<TokenizedRecords> tokenized =
      TokenizeRecords(MiniLm(), {record}, {0}, max_length, "f.jsonl");
  INFO(tokenized.status().ToString());
  REQUIRE(tokenized.ok());
  REQUIRE(tokenized->dataset->size() == 1);
  *truncated = !tokenized->truncated_lines.empty();
  return tokenized->dataset->get(0);
}

struct HfCase {
  std::string text;
  std::optional<std::string> pair;
  size_t max_length;
  bool truncated;  // Hugging Face's untruncated encoding is longer than max_length
  Ids ids;
  Ids type_ids;
};

TEST_CASE("text dataset: ids and truncation match Hugging Face", "[data]") {
  const std::string fox = "The quick brown fox jumps over the lazy dog near the riverbank.";
  const std::string eight = "one two three four five six seven eight";
  const std::string greek = "alpha beta gamma delta epsilon zeta eta theta";
  const std::vector<HfCase> cases = {
      {"Hello, world! This is a test.",
       std::nullopt,
       128,
       false,
       {101, 7592, 1010, 2088, 999, 2023, 2003, 1037, 3231, 1012, 102},
       Ids(11, 0)},
      {"How old are you?",
       "I am unaffable and 6 years old.",
       128,
       false,
       {101, 2129, 2214, 2024, 2017, 1029, 102, 1045, 2572, 14477, 20961, 3468, 1998, 1020, 2086,
        2214, 1012, 102},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
      {"Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u6771\u4eac \u2014 \u201cquoted\u201d",
       std::nullopt,
       128,
       false,
       {101, 7668, 15743, 13746, 1879, 1755, 1517, 1523, 9339, 1524, 102},
       Ids(11, 0)},
      // 16 tokens in full.
      {fox, std::nullopt, 8, true, {101, 1996, 4248, 2829, 4419, 14523, 2058, 102}, Ids(8, 0)},
      // Longest first: the long first text gives up tokens, the short second stays whole.
      {fox,
       "A short one.",
       12,
       true,
       {101, 1996, 4248, 2829, 4419, 14523, 102, 1037, 2460, 2028, 1012, 102},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}},
      {"Short first.",
       fox,
       12,
       true,
       {101, 2460, 2034, 1012, 102, 1996, 4248, 2829, 4419, 14523, 2058, 102},
       {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}},
      // Both long: the budget is split evenly; an odd token goes to the longer (here the second,
      // as the two are equal).
      {eight,
       greek,
       11,
       true,
       {101, 2028, 2048, 2093, 2176, 102, 6541, 8247, 13091, 7160, 102},
       {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}},
      {eight,
       greek,
       12,
       true,
       {101, 2028, 2048, 2093, 2176, 102, 6541, 8247, 13091, 7160, 28038, 102},
       {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}},
      {"one two three four five six seven eight nine ten",
       "alpha beta gamma delta epsilon zeta eta",
       12,
       true,
       {101, 2028, 2048, 2093, 2176, 2274, 102, 6541, 8247, 13091, 7160, 102},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}},
      // Exactly at the limit is not a cut (18 tokens in full).
      {"How old are you?",
       "I am unaffable and 6 years old.",
       18,
       false,
       {101, 2129, 2214, 2024, 2017, 1029, 102, 1045, 2572, 14477, 20961, 3468, 1998, 1020, 2086,
        2214, 1012, 102},
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
  };
  for (const HfCase& test : cases) {
    INFO(test.text << " | " << test.pair.value_or("(none)") << " | max_length " << test.max_length);
    bool truncated = false;
    const nn::TextExample example =
        TokenizeOne(Record(test.text, test.pair, 1), test.max_length, &truncated);
    CHECK(example.ids == test.ids);
    CHECK(example.type_ids == test.type_ids);
    CHECK(truncated == test.truncated);
  }
}

TEST_CASE("text dataset: labels, lines of cut records and tokenizer errors", "[data]") {
  const std::vector<TextRecord> records = {Record("short", std::nullopt, 2),
                                           Record("a much longer text than four", std::nullopt, 5),
                                           Record("q", "answer with words", 9)};
  absl::StatusOr<TokenizedRecords> tokenized =
      TokenizeRecords(MiniLm(), records, {1, 0, 2}, 5, "f.jsonl");
  REQUIRE(tokenized.ok());
  REQUIRE(tokenized->dataset->size() == 3);
  CHECK(tokenized->dataset->get(0).label == 1);
  CHECK(tokenized->dataset->get(2).label == 2);
  CHECK(tokenized->dataset->get(1).ids.size() == 5);
  CHECK(tokenized->truncated_lines == std::vector<int64_t>{5, 9});

  CHECK(TokenizeRecords(MiniLm(), records, {1, 0}, 5, "f").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(TokenizeRecords(MiniLm(), records, {1, 0, 2}, 0, "f").status().code() ==
        absl::StatusCode::kInvalidArgument);
  // A pair needs three special tokens; the tokenizer's refusal names the record's line.
  const absl::Status too_short =
      TokenizeRecords(MiniLm(), records, {1, 0, 2}, 2, "f.jsonl").status();
  CHECK(too_short.code() == absl::StatusCode::kInvalidArgument);
  CHECK(ErrorLine(too_short) == 9);
  CHECK_THAT(std::string(too_short.message()), Catch::StartsWith("f.jsonl:9: "));
}

TEST_CASE("text dataset: a training file and its validation file", "[data]") {
  testing::TempDir dir;
  const std::string train = dir.Write("train.csv",
                                      "text,label\n"
                                      "\"Hello, world! This is a test.\",pos\n"
                                      "bad,neg\n"
                                      "fine,pos\n")
                                .string();
  TextDatasetOptions options;
  options.max_length = 16;
  absl::StatusOr<TextClassificationData> data =
      LoadTextClassificationFile(train, MiniLm(), options);
  INFO(data.status().ToString());
  REQUIRE(data.ok());
  CHECK(data->labels.names() == std::vector<std::string>{"neg", "pos"});
  REQUIRE(data->dataset->size() == 3);
  CHECK(data->dataset->get(0).ids ==
        Ids{101, 7592, 1010, 2088, 999, 2023, 2003, 1037, 3231, 1012, 102});
  CHECK(data->dataset->get(0).label == 1);
  CHECK(data->dataset->get(1).label == 0);
  CHECK(data->truncated_lines.empty());

  // The dataset feeds a DataLoader as is.
  absl::StatusOr<nn::DataLoader> loader =
      nn::DataLoader::Create(data->dataset, {.batch_size = 2, .shuffle = true, .seed = 5});
  REQUIRE(loader.ok());
  absl::StatusOr<nn::TokenBatch> batch = loader->batch(0, 0);
  REQUIRE(batch.ok());
  CHECK(batch->batch == 2);

  // Validation: the training labels apply; one it lacks fails on its line.
  options.labels = data->labels.spec();
  const std::string valid = dir.Write("valid.jsonl",
                                      "{\"text\": \"ok\", \"label\": \"neg\"}\n"
                                      "{\"text\": \"ok\", \"label\": 1}\n")
                                .string();
  absl::StatusOr<TextClassificationData> validation =
      LoadTextClassificationFile(valid, MiniLm(), options);
  REQUIRE(validation.ok());
  CHECK(validation->dataset->get(0).label == 0);
  CHECK(validation->dataset->get(1).label == 1);
  const std::string unknown = dir.Write("unknown.jsonl",
                                        "{\"text\": \"ok\", \"label\": \"neg\"}\n\n"
                                        "{\"text\": \"ok\", \"label\": \"meh\"}\n")
                                  .string();
  const absl::Status status = LoadTextClassificationFile(unknown, MiniLm(), options).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(ErrorLine(status) == 3);
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("unknown.jsonl:3: unknown label \"meh\"; the labels are \"neg\", "
                             "\"pos\""));
}

}  // namespace
}  // namespace trustformers::training
