// Shared by the BPE tokenizer tests: the committed fixtures of tests/golden/bpe, the real SmolLM2
// GGUF file, and a tiny byte-level vocabulary tests can build tokenizers from.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "models/loader/gguf.h"
#include "models/loader/gguf_tokenizer.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/bpe_vocab.h"
#include "tokenizers/byte_level.h"
#include "unit/gzip_file.h"
#include "unit/models/model_fixtures.h"

namespace trustformers::tokenizers::testing {

inline std::string BpeFixturePath(const std::string& name) {
  return std::string(TF_SOURCE_DIR) + "/tests/golden/bpe/" + name;
}

inline std::string SmolLmGgufPath() {
  return trustformers::testing::ModelsDir() +
         "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
}

using trustformers::testing::ReadGzip;

// The GGUF file's tokenizer (run `make fetch-models` first).
inline std::unique_ptr<BpeTokenizer> LoadSmolLmGguf() {
  absl::StatusOr<std::unique_ptr<models::GgufFile>> file = models::GgufFile::Open(SmolLmGgufPath());
  INFO(file.status().ToString() << " (run `make fetch-models`)");
  REQUIRE(file.ok());
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = models::LoadGgufBpeTokenizer(**file);
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

// The same tokenizer as the fixture's tokenizer.json.
inline std::unique_ptr<BpeTokenizer> LoadSmolLmJson() {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer =
      BpeTokenizer::FromJson(ReadGzip(BpeFixturePath("smollm2_tokenizer.json.gz")));
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

// The byte-level spelling of `text` ("a b" -> "aĠb").
inline std::string Bl(const std::string& text) {
  std::string out;
  AppendByteLevel(text, &out);
  return out;
}

// A vocabulary of all 256 byte tokens (ids 3..258 in byte order), a few merges making "he",
// "ll", "hell", "hello", "Ġw", "Ġwo" and "Ġworld"-ish tokens, and control tokens 0..2
// (<|endoftext|>, <|im_start|>, <|im_end|>) plus a user-defined "<tool>".
inline BpeVocab TinyVocab() {
  BpeVocab vocab;
  vocab.tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  vocab.token_types = {TokenType::kControl, TokenType::kControl, TokenType::kControl};
  for (int b = 0; b < 256; ++b) {
    std::string token;
    AppendByteLevel(std::string(1, static_cast<char>(b)), &token);
    vocab.tokens.push_back(token);
    vocab.token_types.push_back(TokenType::kNormal);
  }
  for (const char* merged : {"he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"}) {
    vocab.tokens.push_back(merged);
    vocab.token_types.push_back(TokenType::kNormal);
  }
  vocab.tokens.push_back("<tool>");
  vocab.token_types.push_back(TokenType::kUserDefined);
  vocab.merges = {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"};
  vocab.pre_tokenizer = "gpt-2";
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.unk_id = 0;
  vocab.pad_id = 0;
  return vocab;
}

inline std::unique_ptr<BpeTokenizer> Build(const BpeVocab& vocab) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::FromVocab(vocab);
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

// The id of byte `b` in TinyVocab.
inline uint32_t ByteId(unsigned char b) { return 3u + b; }

}  // namespace trustformers::tokenizers::testing
