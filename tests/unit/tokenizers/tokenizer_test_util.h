// Shared by the tokenizer tests: where the real all-MiniLM-L6-v2 tokenizer.json lives, and a tiny
// BERT tokenizer.json that tests can load as is or break on purpose.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/tokenizer.h"

namespace trustformers::tokenizers::testing {

// $TRUSTFORMERS_HOME (default ~/.cache/trustformers/models)/all-minilm-l6-v2/tokenizer.json, put
// there by `make fetch-models`.
inline std::string MiniLmTokenizerPath() {
  const char* home = std::getenv("TRUSTFORMERS_HOME");
  std::string models;
  if (home != nullptr && *home != '\0') {
    models = home;
  } else {
    const char* user_home = std::getenv("HOME");
    models = std::string(user_home != nullptr ? user_home : "") + "/.cache/trustformers/models";
  }
  return models + "/all-minilm-l6-v2/tokenizer.json";
}

// The MiniLM tokenizer with its own settings (truncation 128, padding to 128).
inline std::unique_ptr<Tokenizer> LoadMiniLm() {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromFile(MiniLmTokenizerPath());
  INFO(tokenizer.status().ToString() << " (run `make fetch-models`)");
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

// Options with neither truncation nor padding.
inline EncodeOptions Plain(bool add_special_tokens = true) {
  EncodeOptions options;
  options.add_special_tokens = add_special_tokens;
  return options;
}

// A complete BERT tokenizer.json over a 16-token vocabulary, in the layout Hugging Face writes.
inline nlohmann::json TinyBertConfig() {
  return nlohmann::json::parse(R"({
    "version": "1.0",
    "truncation": null,
    "padding": null,
    "added_tokens": [
      {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true},
      {"id": 4, "content": "[MASK]", "single_word": false, "lstrip": false, "rstrip": false,
       "normalized": false, "special": true}
    ],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {
      "type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
               {"Sequence": {"id": "B", "type_id": 1}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
      "special_tokens": {
        "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
        "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
      }
    },
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
    "model": {
      "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
      "max_input_chars_per_word": 100,
      "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hello": 5,
                "world": 6, ",": 7, "!": 8, "un": 9, "##aff": 10, "##able": 11, "the": 12,
                "a": 13, "##b": 14, ".": 15}
    }
  })");
}

inline std::unique_ptr<Tokenizer> LoadConfig(const nlohmann::json& config) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromJson(config.dump());
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

}  // namespace trustformers::tokenizers::testing
