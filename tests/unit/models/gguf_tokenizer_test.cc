// The tokenizer read from GGUF metadata: a small hand-made file, every metadata error it can
// carry, and the real SmolLM2 file's keys.
#include "models/loader/gguf_tokenizer.h"

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "tokenizers/byte_level.h"
#include "unit/models/gguf_builder.h"
#include "unit/models/model_fixtures.h"
#include "unit/temp_dir.h"

namespace trustformers::models {
namespace {

using testing::TempDir;
using testing::gguf::Array;
using testing::gguf::Bool;
using testing::gguf::Builder;
using testing::gguf::I32;
using testing::gguf::String;
using testing::gguf::U32;
using testing::gguf::Value;
using tokenizers::BpeTokenizer;
using tokenizers::BpeVocab;
using tokenizers::TokenType;

// Byte tokens for the 256 bytes after two control tokens, "he" and "hello"-making merges.
std::vector<std::pair<std::string, Value>> Metadata() {
  std::vector<Value> tokens = {String("<|endoftext|>"), String("<|im_start|>")};
  std::vector<Value> types = {I32(3), I32(3)};
  for (int b = 0; b < 256; ++b) {
    std::string token;
    tokenizers::AppendByteLevel(std::string(1, static_cast<char>(b)), &token);
    tokens.push_back(String(token));
    types.push_back(I32(1));
  }
  for (const char* merged : {"he", "ll", "hell", "hello"}) {
    tokens.push_back(String(merged));
    types.push_back(I32(1));
  }
  return {{"general.architecture", String("llama")},
          {"tokenizer.ggml.model", String("gpt2")},
          {"tokenizer.ggml.pre", String("smollm")},
          {"tokenizer.ggml.tokens", Array(8, tokens)},
          {"tokenizer.ggml.token_type", Array(5, types)},
          {"tokenizer.ggml.merges",
           Array(8, {String("h e"), String("l l"), String("he ll"), String("hell o")})},
          {"tokenizer.ggml.bos_token_id", U32(1)},
          {"tokenizer.ggml.eos_token_id", U32(0)},
          {"tokenizer.ggml.add_bos_token", Bool(true)}};
}

// Metadata with `key` replaced by `value` (or removed when `value` is nullopt).
std::string FileWith(const std::string& key, std::optional<Value> value) {
  Builder builder;
  bool replaced = false;
  for (auto& [k, v] : Metadata()) {
    if (k != key) {
      builder.metadata.emplace_back(k, v);
    } else if (value.has_value()) {
      builder.metadata.emplace_back(k, *value);
      replaced = true;
    }
  }
  if (value.has_value() && !replaced) builder.metadata.emplace_back(key, *value);
  return builder.Build();
}

absl::StatusOr<BpeVocab> Read(const std::string& bytes) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(dir.Write("t.gguf", bytes).string());
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  return ReadGgufBpeVocab(**file);
}

void CheckError(const std::string& key, std::optional<Value> value, absl::StatusCode code,
                const std::string& part) {
  absl::StatusOr<BpeVocab> vocab = Read(FileWith(key, std::move(value)));
  INFO(key << ": " << vocab.status().ToString());
  REQUIRE_FALSE(vocab.ok());
  CHECK(vocab.status().code() == code);
  CHECK(vocab.status().message().find(part) != absl::string_view::npos);
}

TEST_CASE("gguf tokenizer: a small file reads and tokenizes", "[models][gguf][bpe]") {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(dir.Write("t.gguf", FileWith("", std::nullopt)).string());
  REQUIRE(file.ok());
  absl::StatusOr<BpeVocab> vocab = ReadGgufBpeVocab(**file);
  INFO(vocab.status().ToString());
  REQUIRE(vocab.ok());
  CHECK(vocab->tokens.size() == 262);
  CHECK(vocab->token_types[1] == TokenType::kControl);
  CHECK(vocab->merges.size() == 4);
  CHECK(vocab->pre_tokenizer == "smollm");
  CHECK(vocab->bos_id == 1u);
  CHECK(vocab->eos_id == 0u);
  CHECK_FALSE(vocab->unk_id.has_value());
  CHECK(vocab->add_bos);
  CHECK_FALSE(vocab->add_eos);
  absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> tokenizer =
      LoadGgufTokenizer(**file);
  REQUIRE(tokenizer.ok());
  absl::StatusOr<std::vector<uint32_t>> ids = (*tokenizer)->Encode("<|im_start|>hello", true, true);
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<uint32_t>{1, 1, 261});
}

TEST_CASE("gguf tokenizer: defaults for the optional keys", "[models][gguf][bpe]") {
  absl::StatusOr<BpeVocab> vocab = Read(FileWith("tokenizer.ggml.pre", std::nullopt));
  REQUIRE(vocab.ok());
  CHECK(vocab->pre_tokenizer == "default");
  vocab = Read(FileWith("tokenizer.ggml.token_type", std::nullopt));
  REQUIRE(vocab.ok());
  CHECK(vocab->token_types.empty());
  vocab = Read(FileWith("tokenizer.ggml.add_bos_token", std::nullopt));
  REQUIRE(vocab.ok());
  CHECK_FALSE(vocab->add_bos);  // smollm does not imply BOS
  vocab = Read(FileWith("tokenizer.ggml.pre", String("llama-bpe")));
  REQUIRE(vocab.ok());
  CHECK(vocab->add_bos);  // Llama 3 does
}

TEST_CASE("gguf tokenizer: metadata errors name the key", "[models][gguf][bpe]") {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  CheckError("tokenizer.ggml.model", std::nullopt, absl::StatusCode::kNotFound,
             "tokenizer.ggml.model");
  CheckError("tokenizer.ggml.model", String("llama"), absl::StatusCode::kFailedPrecondition,
             "SentencePiece");
  CheckError("tokenizer.ggml.model", String("bert"), absl::StatusCode::kUnimplemented, "bert");
  CheckError("tokenizer.ggml.model", String("gpt7"), invalid, "gpt7");
  CheckError("tokenizer.ggml.model", U32(2), invalid, "tokenizer.ggml.model");
  CheckError("tokenizer.ggml.tokens", std::nullopt, absl::StatusCode::kNotFound,
             "tokenizer.ggml.tokens");
  CheckError("tokenizer.ggml.tokens", Array(8, {}), invalid, "empty");
  CheckError("tokenizer.ggml.tokens", Array(5, {I32(1)}), invalid, "tokenizer.ggml.tokens");
  CheckError("tokenizer.ggml.token_type", Array(5, {I32(1), I32(3)}), invalid,
             "2 entries for 262 tokens");
  std::vector<Value> types(262, I32(1));
  types[7] = I32(9);
  CheckError("tokenizer.ggml.token_type", Array(5, types), invalid, "token_type[7] is 9");
  CheckError("tokenizer.ggml.merges", std::nullopt, absl::StatusCode::kNotFound,
             "tokenizer.ggml.merges");
  CheckError("tokenizer.ggml.bos_token_id", U32(262), invalid,
             "tokenizer.ggml.bos_token_id is 262");
  CheckError("tokenizer.ggml.eos_token_id", String("2"), invalid, "tokenizer.ggml.eos_token_id");
  CheckError("tokenizer.ggml.bos_token_id", std::nullopt, invalid, "no bos_token_id");
  CheckError("tokenizer.ggml.add_bos_token", U32(1), invalid, "tokenizer.ggml.add_bos_token");
  CheckError("tokenizer.ggml.padding_token_id", U32(100000), invalid, "padding_token_id");

  // Errors that only building the tokenizer finds name the file too.
  TempDir dir;
  for (const auto& [key, value, code, part] :
       std::vector<std::tuple<std::string, Value, absl::StatusCode, std::string>>{
           {"tokenizer.ggml.merges", Array(8, {String("h q")}), invalid, "'q'"},
           {"tokenizer.ggml.merges", Array(8, {String("hq")}), invalid, "merge 0"},
           {"tokenizer.ggml.pre", String("mystery"), absl::StatusCode::kUnimplemented,
            "mystery"}}) {
    absl::StatusOr<std::unique_ptr<GgufFile>> file =
        GgufFile::Open(dir.Write("bad.gguf", FileWith(key, value)).string());
    REQUIRE(file.ok());
    absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> tokenizer =
        LoadGgufTokenizer(**file);
    INFO(tokenizer.status().ToString());
    REQUIRE_FALSE(tokenizer.ok());
    CHECK(tokenizer.status().code() == code);
    CHECK(tokenizer.status().message().find(part) != absl::string_view::npos);
    CHECK(tokenizer.status().message().find("bad.gguf") != absl::string_view::npos);
  }
}

TEST_CASE("gguf tokenizer: SmolLM2-135M-Instruct's metadata", "[models][gguf][bpe]") {
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(trustformers::testing::ModelsDir() +
                     "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
  INFO(file.status().ToString() << " (run `make fetch-models`)");
  REQUIRE(file.ok());
  absl::StatusOr<BpeVocab> vocab = ReadGgufBpeVocab(**file);
  REQUIRE(vocab.ok());
  CHECK(vocab->tokens.size() == 49152);
  CHECK(vocab->merges.size() == 48900);
  CHECK(vocab->pre_tokenizer == "smollm");
  CHECK(vocab->tokens[1] == "<|im_start|>");
  CHECK(vocab->token_types[2] == TokenType::kControl);
  CHECK(vocab->token_types[17] == TokenType::kNormal);
  CHECK(vocab->bos_id == 1u);
  CHECK(vocab->eos_id == 2u);
  CHECK(vocab->unk_id == 0u);
  CHECK(vocab->pad_id == 2u);
  CHECK_FALSE(vocab->add_bos);
  CHECK_FALSE(vocab->add_eos);
}

// A tiny SentencePiece ("llama") vocabulary: <unk>, <s>, </s>, "▁a", "a", and its scores.
std::vector<std::pair<std::string, Value>> LlamaMetadata() {
  return {{"tokenizer.ggml.model", String("llama")},
          {"tokenizer.ggml.tokens",
           Array(8, {String("<unk>"), String("<s>"), String("</s>"), String("▁a"), String("a")})},
          {"tokenizer.ggml.scores",
           Array(6, {testing::gguf::F32(0), testing::gguf::F32(0), testing::gguf::F32(0),
                     testing::gguf::F32(-1), testing::gguf::F32(-2)})},
          {"tokenizer.ggml.token_type", Array(5, {I32(2), I32(3), I32(3), I32(1), I32(1)})}};
}

absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> LoadLlama(
    std::vector<std::pair<std::string, Value>> metadata) {
  Builder builder;
  builder.metadata = std::move(metadata);
  TempDir dir;
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(dir.Write("llama.gguf", builder.Build()).string());
  REQUIRE(file.ok());
  return LoadGgufTokenizer(**file);
}

TEST_CASE("gguf tokenizer: a SentencePiece (llama) vocabulary, with llama.cpp's defaults",
          "[models][gguf][sentencepiece]") {
  absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> tokenizer =
      LoadLlama(LlamaMetadata());
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  CHECK((*tokenizer)->bos_id() == 1u);
  CHECK((*tokenizer)->eos_id() == 2u);
  CHECK((*tokenizer)->unk_id() == 0u);
  absl::StatusOr<std::vector<uint32_t>> ids = (*tokenizer)->Encode("a a", true, true);
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<uint32_t>{1, 3, 3});  // BOS, and the space prefix

  std::vector<std::pair<std::string, Value>> metadata = LlamaMetadata();
  metadata.emplace_back("tokenizer.ggml.add_space_prefix", Bool(false));
  metadata.emplace_back("tokenizer.ggml.add_bos_token", Bool(false));
  tokenizer = LoadLlama(metadata);
  REQUIRE(tokenizer.ok());
  ids = (*tokenizer)->Encode("a a", true, true);
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<uint32_t>{4, 3});

  metadata = LlamaMetadata();
  metadata[2].second = Array(6, {testing::gguf::F32(0)});
  tokenizer = LoadLlama(metadata);
  REQUIRE_FALSE(tokenizer.ok());
  CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(tokenizer.status().message().find("tokenizer.ggml.scores has 1 entries for 5 tokens") !=
        absl::string_view::npos);

  metadata = LlamaMetadata();
  metadata[1].second =
      Array(8, {String("<unk>"), String("<s>"), String("</s>"), String("▁a"), String("▁a")});
  tokenizer = LoadLlama(metadata);
  REQUIRE_FALSE(tokenizer.ok());
  CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(tokenizer.status().message().find("llama.gguf") != absl::string_view::npos);
}

}  // namespace
}  // namespace trustformers::models
