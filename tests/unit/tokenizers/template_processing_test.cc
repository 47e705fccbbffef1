// TemplateProcessing and BertProcessing: templates applied with and without special tokens, and
// the malformed templates that are refused at load.
#include "tokenizers/template_processing.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

Encoding Sequence(std::vector<uint32_t> ids, uint32_t type_id) {
  Encoding encoding;
  for (uint32_t id : ids) {
    encoding.Push(id, type_id, "t" + std::to_string(id), {id, id + 1}, 0, 1);
  }
  return encoding;
}

nlohmann::json BertTemplate() {
  return nlohmann::json::parse(R"({
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
             {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 1}},
             {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
    "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]},
                       "[SEP]": {"id": "[SEP]", "ids": [102], "tokens": ["[SEP]"]}}
  })");
}

TEST_CASE("template processing: BERT single and pair templates", "[tokenizers]") {
  absl::StatusOr<TemplateProcessing> processing = TemplateProcessing::FromJson(BertTemplate());
  REQUIRE(processing.ok());
  CHECK(processing->AddedTokens(false) == 2);
  CHECK(processing->AddedTokens(true) == 3);

  const Encoding a = Sequence({5, 6}, 0);
  const Encoding b = Sequence({7}, 1);
  const Encoding single = processing->Apply(a, nullptr, true);
  CHECK(single.ids == std::vector<uint32_t>{101, 5, 6, 102});
  CHECK(single.tokens == std::vector<std::string>{"[CLS]", "t5", "t6", "[SEP]"});
  CHECK(single.offsets == std::vector<Offsets>{{0, 0}, {5, 6}, {6, 7}, {0, 0}});
  CHECK(single.special_tokens_mask == std::vector<uint8_t>{1, 0, 0, 1});
  CHECK(single.attention_mask == std::vector<uint8_t>{1, 1, 1, 1});

  const Encoding pair = processing->Apply(a, &b, true);
  CHECK(pair.ids == std::vector<uint32_t>{101, 5, 6, 102, 7, 102});
  CHECK(pair.type_ids == std::vector<uint32_t>{0, 0, 0, 0, 1, 1});
  CHECK(pair.special_tokens_mask == std::vector<uint8_t>{1, 0, 0, 1, 0, 1});

  // Without special tokens the template still sets the type ids.
  const Encoding bare = processing->Apply(a, &b, false);
  CHECK(bare.ids == std::vector<uint32_t>{5, 6, 7});
  CHECK(bare.type_ids == std::vector<uint32_t>{0, 0, 1});
}

TEST_CASE("template processing: multi-id special tokens and BertProcessing", "[tokenizers]") {
  nlohmann::json config = BertTemplate();
  config["special_tokens"]["[CLS]"] =
      nlohmann::json::parse(R"({"id": "[CLS]", "ids": [7, 8], "tokens": ["<a>", "<b>"]})");
  absl::StatusOr<TemplateProcessing> processing = TemplateProcessing::FromJson(config);
  REQUIRE(processing.ok());
  CHECK(processing->AddedTokens(false) == 3);
  CHECK(processing->Apply(Sequence({5}, 0), nullptr, true).ids ==
        std::vector<uint32_t>{7, 8, 5, 102});

  absl::StatusOr<TemplateProcessing> bert = TemplateProcessing::FromJson(nlohmann::json::parse(
      R"({"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]})"));
  REQUIRE(bert.ok());
  const Encoding b = Sequence({9}, 1);
  const Encoding pair = bert->Apply(Sequence({5}, 0), &b, true);
  CHECK(pair.ids == std::vector<uint32_t>{101, 5, 102, 9, 102});
  CHECK(pair.type_ids == std::vector<uint32_t>{0, 0, 0, 1, 1});
}

TEST_CASE("template processing: malformed templates are refused", "[tokenizers]") {
  auto code = [](const nlohmann::json& config) {
    return TemplateProcessing::FromJson(config).status().code();
  };
  nlohmann::json missing_special = BertTemplate();
  missing_special["special_tokens"].erase("[SEP]");
  CHECK(code(missing_special) == absl::StatusCode::kInvalidArgument);

  nlohmann::json pair_without_b = BertTemplate();
  pair_without_b["pair"] = pair_without_b["single"];
  CHECK(code(pair_without_b) == absl::StatusCode::kInvalidArgument);

  nlohmann::json single_with_b = BertTemplate();
  single_with_b["single"] = single_with_b["pair"];
  CHECK(code(single_with_b) == absl::StatusCode::kInvalidArgument);

  nlohmann::json mismatched = BertTemplate();
  mismatched["special_tokens"]["[CLS]"]["tokens"] = {"[CLS]", "extra"};
  CHECK(code(mismatched) == absl::StatusCode::kInvalidArgument);

  nlohmann::json bad_piece = BertTemplate();
  bad_piece["single"][1] = {{"Sequence", {{"id", "C"}, {"type_id", 0}}}};
  CHECK(code(bad_piece) == absl::StatusCode::kInvalidArgument);

  nlohmann::json bad_type_id = BertTemplate();
  bad_type_id["single"][1]["Sequence"]["type_id"] = -1;
  CHECK(code(bad_type_id) == absl::StatusCode::kInvalidArgument);

  nlohmann::json string_template = BertTemplate();
  string_template["single"] = "[CLS] $A [SEP]";
  CHECK(code(string_template) == absl::StatusCode::kInvalidArgument);

  CHECK(code(nlohmann::json::parse(R"({"type": "RobertaProcessing", "sep": ["</s>", 2],
                                       "cls": ["<s>", 0]})")) == absl::StatusCode::kUnimplemented);
  CHECK(code(nlohmann::json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]"],
                                       "cls": ["[CLS]", 101]})")) ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trustformers::tokenizers
