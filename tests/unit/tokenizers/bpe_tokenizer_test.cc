// BpeTokenizer as callers see it: encoding with and without special tokens, decoding, the
// streaming decoder, hostile input, and the errors of a bad vocabulary or tokenizer.json.
#include "tokenizers/bpe_tokenizer.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/streaming_decoder.h"
#include "unit/temp_dir.h"
#include "unit/tokenizers/bpe_test_util.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;
using testing::Build;
using testing::ByteId;
using testing::TinyVocab;
using V = std::vector<uint32_t>;

constexpr uint32_t kHello = 262;
constexpr uint32_t kWorld = 267;  // "Ġworld"
constexpr uint32_t kTool = 268;

V Encode(const BpeTokenizer& tokenizer, const std::string& text, bool add_special = false,
         bool parse_special = false) {
  absl::StatusOr<V> ids = tokenizer.Encode(text, add_special, parse_special);
  INFO(ids.status().ToString());
  REQUIRE(ids.ok());
  return *ids;
}

V Bytes(const std::string& text) {
  V ids;
  for (char c : text) ids.push_back(ByteId(static_cast<unsigned char>(c)));
  return ids;
}

TEST_CASE("bpe tokenizer: merges, control tokens on request, user-defined tokens always",
          "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = Build(TinyVocab());
  CHECK(tokenizer->vocab_size() == 269);
  CHECK(Encode(*tokenizer, "hello world") == V{kHello, kWorld});
  CHECK(Encode(*tokenizer, "").empty());
  CHECK(Encode(*tokenizer, "<|im_start|>hello<|im_end|>", false, true) == V{1, kHello, 2});
  // Without parse_special the markers are text: byte tokens, no control ids.
  V literal = Bytes("<|im_start|>");
  literal.push_back(kHello);
  const V end = Bytes("<|im_end|>");
  literal.insert(literal.end(), end.begin(), end.end());
  CHECK(Encode(*tokenizer, "<|im_start|>hello<|im_end|>") == literal);
  for (bool parse_special : {false, true}) {
    CHECK(Encode(*tokenizer, "a<tool>b", false, parse_special) ==
          V{ByteId('a'), kTool, ByteId('b')});
  }
  CHECK(tokenizer->TokenToId("<|im_end|>") == 2u);
  CHECK(tokenizer->TokenToId("Ġworld") == kWorld);
  CHECK_FALSE(tokenizer->TokenToId("nope").has_value());
  CHECK(*tokenizer->IdToToken(kWorld) == "Ġworld");
  CHECK(tokenizer->IdToToken(9999) == nullptr);
  CHECK(tokenizer->token_type(1) == TokenType::kControl);
  CHECK(tokenizer->token_type(kTool) == TokenType::kUserDefined);
  CHECK(tokenizer->token_type(9999) == TokenType::kUnused);
  CHECK(tokenizer->bos_id() == 1u);
  CHECK(tokenizer->eos_id() == 2u);
}

TEST_CASE("bpe tokenizer: add_special_tokens puts BOS and EOS as the vocabulary asks",
          "[tokenizers][bpe]") {
  BpeVocab vocab = TinyVocab();
  CHECK(Encode(*Build(vocab), "hello", true) == V{kHello});
  vocab.add_bos = true;
  CHECK(Encode(*Build(vocab), "hello", true) == V{1, kHello});
  CHECK(Encode(*Build(vocab), "hello", false) == V{kHello});
  vocab.add_eos = true;
  CHECK(Encode(*Build(vocab), "hello", true) == V{1, kHello, 2});
  CHECK(Encode(*Build(vocab), "", true) == V{1, 2});
}

TEST_CASE("bpe tokenizer: invalid UTF-8 is refused with its byte offset", "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = Build(TinyVocab());
  for (const std::string& text : {std::string("ab\xFF"
                                              "c"),
                                  std::string("ab\xC3"), std::string("ab\xED\xA0\x80")}) {
    absl::StatusOr<V> ids = tokenizer->Encode(text, true, true);
    REQUIRE_FALSE(ids.ok());
    CHECK(ids.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(ids.status().message().find("byte offset 2") != absl::string_view::npos);
  }
}

TEST_CASE("bpe tokenizer: token bytes and decoding", "[tokenizers][bpe]") {
  BpeVocab vocab = TinyVocab();
  vocab.tokens.push_back("<0x41>");
  vocab.token_types.push_back(TokenType::kByte);
  const std::unique_ptr<BpeTokenizer> tokenizer = Build(vocab);
  CHECK(tokenizer->TokenBytes(kWorld) == " world");
  CHECK(tokenizer->TokenBytes(1) == "<|im_start|>");
  CHECK(tokenizer->TokenBytes(ByteId(0xF0)) == "\xF0");
  CHECK(tokenizer->TokenBytes(269) == "A");
  CHECK(tokenizer->TokenBytes(9999).empty());
  const V ids = {1, kHello, kWorld, 2, 9999};
  CHECK(tokenizer->Decode(ids) == "hello world");
  CHECK(tokenizer->Decode(ids, /*skip_special_tokens=*/false) ==
        "<|im_start|>hello world<|im_end|>");
  CHECK(tokenizer->Decode(V{kTool}) == "<tool>");  // user-defined tokens are not special
  // A character cut short, and a byte that is never UTF-8.
  CHECK(tokenizer->Decode(V{ByteId(0xF0), ByteId(0x9F), ByteId('a'), ByteId(0xFF)}) ==
        "\xEF\xBF\xBD"
        "a\xEF\xBF\xBD");
}

TEST_CASE("bpe streaming decoder: characters split over byte tokens are held back",
          "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = Build(TinyVocab());
  StreamingDecoder stream(*tokenizer);
  // U+1F600 as four byte tokens: nothing until the fourth.
  CHECK(stream.Push(ByteId(0xF0)).empty());
  CHECK(stream.Push(ByteId(0x9F)).empty());
  CHECK(stream.Push(ByteId(0x98)).empty());
  CHECK(stream.Push(ByteId(0x80)) == "\xF0\x9F\x98\x80");
  CHECK(stream.Push(kHello) == "hello");
  CHECK(stream.Push(1).empty());  // control tokens are skipped
  CHECK(stream.Push(9999).empty());
  // "é" split in two, with the next word arriving together with its second byte.
  CHECK(stream.Push(ByteId(0xC3)).empty());
  CHECK(stream.Push(ByteId(0xA9)) == "\xC3\xA9");
  // A byte that cannot continue the held one: the held byte becomes U+FFFD at once.
  CHECK(stream.Push(ByteId(0xE2)).empty());
  CHECK(stream.Push(ByteId('x')) == "\xEF\xBF\xBDx");
  CHECK(stream.Push(ByteId(0xFF)) == "\xEF\xBF\xBD");
  // An unfinished character at the end becomes U+FFFD.
  CHECK(stream.Push(ByteId(0xE2)).empty());
  CHECK(stream.Push(ByteId(0x82)).empty());
  CHECK(stream.Finish() == "\xEF\xBF\xBD");
  CHECK(stream.Finish().empty());

  StreamingDecoder keep(*tokenizer, /*skip_special_tokens=*/false);
  CHECK(keep.Push(1) == "<|im_start|>");

  Utf8StreamAssembler assembler;
  CHECK(assembler.Push("ab\xE2\x82").empty() == false);
  CHECK(assembler.pending() == 2);
  CHECK(assembler.Push("\xAC") == "\xE2\x82\xAC");
  CHECK(assembler.pending() == 0);
}

TEST_CASE("bpe tokenizer: the vocabulary is checked", "[tokenizers][bpe]") {
  auto error = [](const BpeVocab& vocab) {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::FromVocab(vocab);
    REQUIRE_FALSE(tokenizer.ok());
    return tokenizer.status();
  };
  auto has = [](const absl::Status& status, const std::string& part) {
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().find(part) != absl::string_view::npos);
  };
  BpeVocab vocab = TinyVocab();
  vocab.token_types.pop_back();
  has(error(vocab), "268 token types for 269 tokens");
  vocab = TinyVocab();
  vocab.eos_id = 269;
  has(error(vocab), "EOS id 269");
  vocab = TinyVocab();
  vocab.bos_id.reset();
  vocab.add_bos = true;
  has(error(vocab), "add_bos");
  vocab = TinyVocab();
  vocab.merges.push_back("nospace");
  has(error(vocab), "merge 9 ('nospace')");
  vocab = TinyVocab();
  vocab.merges.push_back("x yz");
  has(error(vocab), "'yz' is not in the vocabulary");
  vocab = TinyVocab();
  vocab.tokens[5] = "\xC3";
  has(error(vocab), "token 5");
  vocab = TinyVocab();
  vocab.token_types[4] = static_cast<TokenType>(9);
  has(error(vocab), "unknown type 9");
  has(error(BpeVocab{}), "no tokens");
  vocab = TinyVocab();
  vocab.pre_tokenizer = "klingon";
  const absl::Status unknown = error(vocab);
  CHECK(unknown.code() == absl::StatusCode::kUnimplemented);
  CHECK(unknown.message().find("klingon") != absl::string_view::npos);
  // Token types may be left out: every token is then normal.
  vocab = TinyVocab();
  vocab.token_types.clear();
  const std::unique_ptr<BpeTokenizer> untyped = Build(vocab);
  CHECK(Encode(*untyped, "<|im_start|>", false, true).size() > 1);
}

// A small tokenizer.json over the tiny vocabulary, in the layout Hugging Face writes.
json TinyJson() {
  json vocab = json::object();
  const BpeVocab tiny = TinyVocab();
  for (size_t id = 0; id < tiny.tokens.size(); ++id) vocab[tiny.tokens[id]] = id;
  json merges = json::array();
  for (const std::string& merge : tiny.merges) {
    merges.push_back(
        json::array({merge.substr(0, merge.find(' ')), merge.substr(merge.find(' ') + 1)}));
  }
  return json{{"version", "1.0"},
              {"added_tokens", json::array({{{"id", 1},
                                             {"content", "<|im_start|>"},
                                             {"special", true},
                                             {"normalized", false},
                                             {"lstrip", false},
                                             {"rstrip", false},
                                             {"single_word", false}},
                                            {{"id", 268},
                                             {"content", "<tool>"},
                                             {"special", false},
                                             {"normalized", false},
                                             {"lstrip", false},
                                             {"rstrip", false},
                                             {"single_word", false}}})},
              {"normalizer", nullptr},
              {"pre_tokenizer",
               {{"type", "ByteLevel"},
                {"add_prefix_space", false},
                {"trim_offsets", true},
                {"use_regex", true}}},
              {"post_processor", nullptr},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}}}};
}

std::unique_ptr<BpeTokenizer> FromJson(const json& config) {
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::FromJson(config.dump());
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

TEST_CASE("bpe tokenizer.json: merges as pairs or strings, post-processors, added tokens",
          "[tokenizers][bpe]") {
  json config = TinyJson();
  const std::unique_ptr<BpeTokenizer> pairs = FromJson(config);
  CHECK(Encode(*pairs, "hello world") == V{kHello, kWorld});
  CHECK(Encode(*pairs, "<|im_start|>a<tool>", false, true) == V{1, ByteId('a'), kTool});
  CHECK(pairs->IsSpecial(1));
  CHECK_FALSE(pairs->IsSpecial(2));  // not an added token in this file
  CHECK(pairs->Decode(V{1, kHello}) == "hello");

  json strings = config;
  strings["model"]["merges"] = TinyVocab().merges;
  CHECK(Encode(*FromJson(strings), "hello world") == V{kHello, kWorld});

  json roberta = config;
  roberta["post_processor"] = {{"type", "RobertaProcessing"},
                               {"sep", json::array({"<|im_end|>", 2})},
                               {"cls", json::array({"<|im_start|>", 1})}};
  CHECK(Encode(*FromJson(roberta), "hello", true) == V{1, kHello, 2});

  json sequence = config;
  sequence["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
      {"type": "TemplateProcessing",
       "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
       "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [1],
                                           "tokens": ["<|im_start|>"]}}}]})");
  const std::unique_ptr<BpeTokenizer> llama_like = FromJson(sequence);
  CHECK(Encode(*llama_like, "hello", true) == V{1, kHello});
  CHECK(llama_like->prefix_ids() == V{1});
  CHECK(llama_like->suffix_ids().empty());

  trustformers::testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> from_file =
      BpeTokenizer::FromFile(dir.Write("tokenizer.json", config.dump()).string());
  REQUIRE(from_file.ok());
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> missing =
      BpeTokenizer::FromFile((dir.path() / "absent.json").string());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("bpe tokenizer: a Hugging Face folder's tokenizer_config.json names the specials",
          "[tokenizers][bpe]") {
  trustformers::testing::TempDir dir;
  dir.Write("plain/tokenizer.json", TinyJson().dump());
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> plain =
      BpeTokenizer::FromHfFolder((dir.path() / "plain").string());
  REQUIRE(plain.ok());
  CHECK_FALSE((*plain)->bos_id().has_value());
  CHECK(Encode(**plain, "hello", true) == V{kHello});

  dir.Write("full/tokenizer.json", TinyJson().dump());
  dir.Write("full/tokenizer_config.json", R"({
    "add_bos_token": true, "add_eos_token": false, "bos_token": "<|im_start|>",
    "eos_token": {"content": "<|im_end|>", "lstrip": false, "rstrip": false},
    "pad_token": null, "unk_token": "<|endoftext|>", "model_max_length": 8192})");
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> full =
      BpeTokenizer::FromHfFolder((dir.path() / "full").string());
  INFO(full.status().ToString());
  REQUIRE(full.ok());
  CHECK((*full)->bos_id() == 1u);
  CHECK((*full)->eos_id() == 2u);
  CHECK((*full)->unk_id() == 0u);
  CHECK_FALSE((*full)->pad_id().has_value());
  CHECK(Encode(**full, "hello", true) == V{1, kHello});

  dir.Write("bad/tokenizer.json", TinyJson().dump());
  dir.Write("bad/tokenizer_config.json", R"({"eos_token": "</s>"})");
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> bad =
      BpeTokenizer::FromHfFolder((dir.path() / "bad").string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("eos_token '</s>'") != absl::string_view::npos);
  CHECK(BpeTokenizer::FromHfFolder((dir.path() / "none").string()).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("bpe tokenizer.json: unsupported and malformed files are refused", "[tokenizers][bpe]") {
  auto status_of = [](const json& config) {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = BpeTokenizer::FromJson(config.dump());
    REQUIRE_FALSE(tokenizer.ok());
    return tokenizer.status();
  };
  auto check = [&](const json& config, absl::StatusCode code, const std::string& part) {
    const absl::Status status = status_of(config);
    INFO(status.ToString());
    CHECK(status.code() == code);
    CHECK(status.message().find(part) != absl::string_view::npos);
  };
  CHECK(BpeTokenizer::FromJson("{not json").status().code() == absl::StatusCode::kInvalidArgument);
  json config = TinyJson();
  config["model"]["type"] = "WordPiece";
  check(config, absl::StatusCode::kUnimplemented, "WordPiece");
  config = TinyJson();
  config["decoder"] = nullptr;
  check(config, absl::StatusCode::kUnimplemented, "decoder");
  config = TinyJson();
  config["decoder"] = {{"type", "Metaspace"}};
  check(config, absl::StatusCode::kUnimplemented, "Metaspace");
  config = TinyJson();
  config["normalizer"] = {{"type", "Lowercase"}};
  check(config, absl::StatusCode::kUnimplemented, "Lowercase");
  config = TinyJson();
  config["model"]["dropout"] = 0.1;
  check(config, absl::StatusCode::kUnimplemented, "dropout");
  config = TinyJson();
  config["model"]["merges"][0] = 7;
  check(config, absl::StatusCode::kInvalidArgument, "model.merges[0]");
  config = TinyJson();
  config["model"]["merges"][0] = "a b c";
  check(config, absl::StatusCode::kInvalidArgument, "model.merges[0]");
  config = TinyJson();
  config["model"]["merges"].push_back(json::array({"q", "zz"}));
  check(config, absl::StatusCode::kInvalidArgument, "'zz' is not in the vocabulary");
  config = TinyJson();
  config["model"]["vocab"]["far"] = 5000000;
  check(config, absl::StatusCode::kInvalidArgument, "5000000");
  config = TinyJson();
  config["model"]["vocab"]["bad"] = -1;
  check(config, absl::StatusCode::kInvalidArgument, "model.vocab[\"bad\"]");
  config = TinyJson();
  config["post_processor"] = {{"type", "RobertaProcessing"},
                              {"sep", json::array({"x", 100000})},
                              {"cls", json::array({"<|im_start|>", 1})}};
  check(config, absl::StatusCode::kInvalidArgument, "100000");
  config = TinyJson();
  config["pre_tokenizer"] = {{"type", "Whitespace"}};
  check(config, absl::StatusCode::kUnimplemented, "Whitespace");
  config = TinyJson();
  config["model"]["unk_token"] = "<missing>";
  check(config, absl::StatusCode::kInvalidArgument, "<missing>");
}

TEST_CASE("bpe tokenizer: hostile input ends in time or in an error, never a hang",
          "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = testing::LoadSmolLmGguf();
  const auto start = std::chrono::steady_clock::now();
  // One huge piece (a single word), huge whitespace and newline runs, a million digits, emoji.
  for (const std::string& text :
       {std::string(1 << 20, 'a'), std::string(1 << 20, ' '), std::string(1 << 20, '\n'),
        std::string(1 << 19, '7'), absl::StrCat(std::string(1 << 18, ' '), "x"), [] {
          std::string emoji;
          for (int i = 0; i < 1 << 17; ++i) emoji += "\xF0\x9F\x98\x80";
          return emoji;
        }()}) {
    absl::StatusOr<V> ids = tokenizer->Encode(text, true, true);
    INFO(ids.status().ToString());
    REQUIRE(ids.ok());
    CHECK(tokenizer->Decode(*ids, false) == text);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(seconds << " s");
  CHECK(seconds < 60);

  // A tokenizer.json whose own pattern backtracks catastrophically: the match limit stops it.
  json config = TinyJson();
  config["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
  const std::unique_ptr<BpeTokenizer> evil = FromJson(config);
  const auto evil_start = std::chrono::steady_clock::now();
  absl::StatusOr<V> ids = evil->Encode(std::string(5000, 'a') + "!");
  REQUIRE_FALSE(ids.ok());
  CHECK(ids.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ids.status().message().find("too complex") != absl::string_view::npos);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - evil_start).count() < 10);
}

TEST_CASE("bpe tokenizer: concurrent encodes agree", "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = testing::LoadSmolLmGguf();
  const std::string text = "<|im_start|>user\nWrite a haiku about 2024 😀, naïve café.<|im_end|>\n";
  const V expected = Encode(*tokenizer, text, true, true);
  std::vector<int> agree(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < agree.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<V> ids = tokenizer->Encode(text, true, true);
        if (ids.ok() && *ids == expected) ++agree[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int count : agree) CHECK(count == 200);
}

TEST_CASE("bpe tokenizer: the SmolLM2 GGUF tokenizer's specials and chat markers",
          "[tokenizers][bpe]") {
  const std::unique_ptr<BpeTokenizer> tokenizer = testing::LoadSmolLmGguf();
  CHECK(tokenizer->vocab_size() == 49152);
  CHECK(tokenizer->bos_id() == 1u);
  CHECK(tokenizer->eos_id() == 2u);
  CHECK(tokenizer->unk_id() == 0u);
  CHECK(tokenizer->pad_id() == 2u);
  CHECK(tokenizer->prefix_ids().empty());  // add_bos_token is false
  CHECK(tokenizer->IsSpecial(1));
  CHECK(Encode(*tokenizer, "<|im_start|>user\nHi<|im_end|>\n", true, true) ==
        V{1, 4093, 198, 26843, 2, 198});
  CHECK(Encode(*tokenizer, "Hello world! 123") == V{19556, 905, 17, 216, 33, 34, 35});
  CHECK(tokenizer->Decode(V{1, 19556, 905, 2}) == "Hello world");
}

}  // namespace
}  // namespace trustformers::tokenizers
