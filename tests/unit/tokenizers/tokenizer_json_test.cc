// Loading tokenizer.json: what is refused, with which code, and that no malformed file (wrong
// types, missing fields, ids out of range, truncated text, random damage) can crash the loader.
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/tokenizer.h"
#include "unit/temp_dir.h"
#include "unit/tokenizers/tokenizer_test_util.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;
using testing::Plain;
using testing::TinyBertConfig;

absl::Status Load(const json& config) { return Tokenizer::FromJson(config.dump()).status(); }

// `config` with the value at `pointer` replaced (or removed, for a discarded value).
json With(const char* pointer, const json& value) {
  json config = TinyBertConfig();
  const json::json_pointer path(pointer);
  if (value.is_discarded()) {
    config[path.parent_pointer()].erase(path.back());
  } else {
    config[path] = value;
  }
  return config;
}

const json kRemove = json(json::value_t::discarded);

TEST_CASE("tokenizer.json: the tiny BERT file loads and works", "[tokenizers]") {
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadConfig(TinyBertConfig());
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("Hello, unaffable world!", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->tokens == std::vector<std::string>{"[CLS]", "hello", ",", "un", "##aff", "##able",
                                                     "world", "!", "[SEP]"});
  CHECK(tokenizer->Decode(encoding->ids) == "hello, unaffable world!");
}

TEST_CASE("tokenizer.json: components other than BERT's are UNIMPLEMENTED, by name",
          "[tokenizers]") {
  struct Case {
    const char* pointer;
    const char* value;
    const char* named;
  };
  const Case cases[] = {
      {"/model", R"({"type": "BPE", "vocab": {}, "merges": []})", "BPE"},
      {"/model", R"({"type": "Unigram", "vocab": []})", "Unigram"},
      {"/model", R"({"vocab": {}, "merges": []})", "BPE"},  // untyped, told apart by its fields
      {"/model/type", R"("WordLevel")", "WordLevel"},
      {"/normalizer", R"({"type": "Sequence", "normalizers": []})", "Sequence"},
      {"/normalizer", R"({"type": "NFKC"})", "NFKC"},
      {"/pre_tokenizer", R"({"type": "Metaspace", "replacement": "_"})", "Metaspace"},
      {"/pre_tokenizer", R"({"type": "ByteLevel"})", "ByteLevel"},
      {"/post_processor", R"({"type": "RobertaProcessing"})", "RobertaProcessing"},
      {"/decoder", R"({"type": "ByteLevel"})", "ByteLevel"},
      {"/decoder", R"({"type": "Metaspace"})", "Metaspace"},
  };
  for (const Case& c : cases) {
    INFO(c.pointer << " = " << c.value);
    const absl::Status status = Load(With(c.pointer, json::parse(c.value)));
    CHECK(status.code() == absl::StatusCode::kUnimplemented);
    CHECK(absl::StrContains(status.message(), c.named));
  }
}

TEST_CASE("tokenizer.json: malformed files are INVALID_ARGUMENT", "[tokenizers]") {
  struct Case {
    const char* pointer;
    json value;
  };
  const Case cases[] = {
      {"/version", "2.0"},
      {"/version", 1},
      {"/model", kRemove},
      {"/model", nullptr},
      {"/model", "WordPiece"},
      {"/model/type", 7},
      {"/model/vocab", kRemove},
      {"/model/vocab", json::array({"a", "b"})},
      {"/model/vocab/hello", -1},
      {"/model/vocab/hello", "5"},
      {"/model/vocab/hello", 1.5},
      {"/model/vocab/hello", 4294967296ull},
      {"/model/unk_token", nullptr},
      {"/model/max_input_chars_per_word", "100"},
      {"/normalizer", 5},
      {"/normalizer/type", kRemove},
      {"/normalizer/lowercase", "true"},
      {"/normalizer/clean_text", kRemove},
      {"/pre_tokenizer", json::array()},
      {"/pre_tokenizer/type", 3},
      {"/post_processor/single", kRemove},
      {"/post_processor/single/0", json::object()},
      {"/post_processor/special_tokens/[CLS]/ids", json::array({"2"})},
      {"/post_processor/special_tokens/[CLS]/ids", json::array({99999})},  // not in the vocab
      {"/post_processor/special_tokens/[SEP]", kRemove},
      {"/decoder/cleanup", 1},
      {"/added_tokens", json::object()},
      {"/added_tokens/0/content", kRemove},
      {"/added_tokens/0/content", 7},
      {"/added_tokens/0/id", -4},
      {"/added_tokens/1/special", "yes"},
      {"/truncation", json::parse(R"({"max_length": 8, "strategy": "Best", "stride": 0})")},
      {"/truncation", json::parse(R"({"max_length": "8", "strategy": "OnlyFirst", "stride": 0})")},
      {"/padding", json::parse(R"({"strategy": "BatchLongest", "direction": "Right",
                                   "pad_id": 77777, "pad_type_id": 0, "pad_token": "[PAD]"})")},
      {"/padding", json::parse(R"({"strategy": {"Fixed": 1e9}, "direction": "Right",
                                   "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"})")},
  };
  for (const Case& c : cases) {
    INFO(c.pointer << " = " << c.value.dump());
    const absl::Status status = Load(With(c.pointer, c.value));
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(status.message().empty());
  }
  for (const char* text : {"", "{", "nul", "[1, 2]", "\"tokenizer\"", "{\"model\": }"}) {
    INFO(text);
    CHECK(Tokenizer::FromJson(text).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("tokenizer.json: null components are allowed, as in Hugging Face", "[tokenizers]") {
  json config = TinyBertConfig();
  config["pre_tokenizer"] = nullptr;
  config["decoder"] = nullptr;
  config["post_processor"] = nullptr;
  std::unique_ptr<Tokenizer> tokenizer = testing::LoadConfig(config);
  // Without a pre-tokenizer the whole normalised text is one word for WordPiece.
  absl::StatusOr<Encoding> encoding = tokenizer->Encode("hello world", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->tokens == std::vector<std::string>{"[UNK]"});
  CHECK(encoding->offsets == std::vector<Offsets>{{0, 11}});
  absl::StatusOr<Encoding> pair = tokenizer->EncodePair("hello", "world", Plain());
  REQUIRE(pair.ok());
  CHECK(pair->ids == std::vector<uint32_t>{5, 6});
  CHECK(pair->type_ids == std::vector<uint32_t>{0, 1});
  // Without a decoder tokens are joined with spaces.
  CHECK(tokenizer->Decode(std::vector<uint32_t>{5, 7, 6}) == "hello , world");

  // A model without "type" is recognised by its fields, as Hugging Face does.
  config["model"].erase("type");
  config["normalizer"] = nullptr;
  config["added_tokens"] = nullptr;
  tokenizer = testing::LoadConfig(config);
  encoding = tokenizer->Encode("Hello", Plain());
  REQUIRE(encoding.ok());
  CHECK(encoding->tokens == std::vector<std::string>{"[UNK]"});  // no lowercasing
}

TEST_CASE("tokenizer.json: files", "[tokenizers]") {
  ::trustformers::testing::TempDir dir;
  const std::string path = dir.Write("tokenizer.json", TinyBertConfig().dump()).string();
  CHECK(Tokenizer::FromFile(path).ok());
  const std::string broken = dir.Write("broken.json", "{\"model\": [").string();
  const absl::Status status = Tokenizer::FromFile(broken).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(status.message(), broken));
  CHECK(Tokenizer::FromFile((dir.path() / "missing.json").string()).status().code() ==
        absl::StatusCode::kNotFound);
}

// Every node of `value`, as JSON pointers.
void CollectPointers(const json& value, const std::string& at, std::vector<std::string>* out) {
  out->push_back(at);
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      std::string escaped;
      for (char c : key) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      CollectPointers(child, at + "/" + escaped, out);
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      CollectPointers(value[i], at + "/" + std::to_string(i), out);
    }
  }
}

TEST_CASE("tokenizer.json: random damage never crashes", "[tokenizers]") {
  const json base = TinyBertConfig();
  std::vector<std::string> pointers;
  CollectPointers(base, "", &pointers);
  const std::vector<json> replacements = {nullptr,
                                          true,
                                          -1,
                                          0,
                                          3,
                                          4294967296ull,
                                          1.5,
                                          "",
                                          "x",
                                          "[CLS]",
                                          json::array(),
                                          json::object(),
                                          json::array({1, "a"}),
                                          json::parse(R"({"type": "BertNormalizer"})"),
                                          json::parse(R"({"Fixed": 3})"),
                                          "Left",
                                          "OnlySecond",
                                          "BatchLongest"};
  std::mt19937 random(1234);
  int loaded = 0;
  for (int round = 0; round < 1500; ++round) {
    json config = base;
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      const json::json_pointer pointer(pointers[random() % pointers.size()]);
      if (!config.contains(pointer)) continue;
      if (random() % 4 == 0 && !pointer.empty()) {
        json& parent = config[pointer.parent_pointer()];
        if (parent.is_object()) parent.erase(pointer.back());
        continue;
      }
      config[pointer] = replacements[random() % replacements.size()];
    }
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromJson(config.dump());
    if (!tokenizer.ok()) continue;
    ++loaded;
    for (const char* text : {"Hello, unaffable world!", "", "[CLS] a b", "中文 x\u0301"}) {
      (void)(*tokenizer)->Encode(text);
      (void)(*tokenizer)->EncodePair(text, "the a.");
      (void)(*tokenizer)->EncodeBatch({text, "a"});
    }
    (void)(*tokenizer)->Decode(std::vector<uint32_t>{0, 1, 2, 5, 9, 10, 99});
  }
  CHECK(loaded > 0);  // some damage is harmless, and those tokenizers must work too

  const std::string text = base.dump();
  for (size_t cut = 0; cut < text.size(); cut += 7) {
    CHECK_FALSE(Tokenizer::FromJson(text.substr(0, cut)).ok());
  }
}

}  // namespace
}  // namespace trustformers::tokenizers
