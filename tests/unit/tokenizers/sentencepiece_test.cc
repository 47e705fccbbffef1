// SentencePieceTokenizer against the `sentencepiece` Python package on the fixtures of
// tests/golden/sentencepiece (see make_fixtures.py there), from .model files and from the same
// vocabulary as GGUF metadata; special tokens, decoding, streaming and malformed models.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "models/loader/gguf.h"
#include "models/loader/gguf_tokenizer.h"
#include "nlohmann/json.hpp"
#include "tokenizers/sentencepiece_model.h"
#include "tokenizers/sentencepiece_tokenizer.h"
#include "tokenizers/streaming_decoder.h"
#include "tokenizers/utf8.h"
#include "trustformers/v1/inference.pb.h"
#include "unit/temp_dir.h"
#include "unit/tokenizers/bpe_test_util.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;
using V = std::vector<uint32_t>;

std::string SpmPath(const std::string& name) {
  return std::string(TF_SOURCE_DIR) + "/tests/golden/sentencepiece/" + name;
}

std::vector<std::string> Lines(const std::string& gz) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(testing::ReadGzip(gz), '\n')) {
    if (!line.empty() && line[0] != '#') lines.emplace_back(line);
  }
  return lines;
}

V ParseIds(absl::string_view field) {
  V ids;
  for (absl::string_view item : absl::StrSplit(field, ' ', absl::SkipEmpty())) {
    uint32_t id = 0;
    REQUIRE(absl::SimpleAtoi(item, &id));
    ids.push_back(id);
  }
  return ids;
}

std::unique_ptr<SentencePieceTokenizer> LoadModel(const std::string& name,
                                                  SentencePieceTokenizer::Options options = {}) {
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::FromFile(SpmPath(name), options);
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

std::unique_ptr<CausalTokenizer> LoadGguf() {
  absl::StatusOr<std::unique_ptr<models::GgufFile>> file =
      models::GgufFile::Open(SpmPath("bpe.gguf"));
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  absl::StatusOr<std::unique_ptr<CausalTokenizer>> tokenizer = models::LoadGgufTokenizer(**file);
  INFO(tokenizer.status().ToString());
  REQUIRE(tokenizer.ok());
  return *std::move(tokenizer);
}

V Encode(const CausalTokenizer& tokenizer, const std::string& text, bool add_special = false,
         bool parse_special = false) {
  absl::StatusOr<V> ids = tokenizer.Encode(text, add_special, parse_special);
  INFO(ids.status().ToString());
  REQUIRE(ids.ok());
  return *ids;
}

// Total score of a segmentation: what Unigram's Viterbi search maximises.
double TotalScore(const std::vector<float>& scores, const V& ids) {
  double total = 0;
  for (uint32_t id : ids) total += scores[id];
  return total;
}

TEST_CASE("sentencepiece golden: every corpus line encodes as the sentencepiece package",
          "[tokenizers][sentencepiece][golden]") {
  const std::unique_ptr<SentencePieceTokenizer> bpe = LoadModel("bpe.model");
  const std::unique_ptr<SentencePieceTokenizer> unigram = LoadModel("unigram.model");
  const std::unique_ptr<CausalTokenizer> gguf = LoadGguf();
  CHECK(bpe->algorithm() == SentencePieceAlgorithm::kBpe);
  CHECK(unigram->algorithm() == SentencePieceAlgorithm::kUnigram);
  absl::StatusOr<SentencePieceModelInfo> unigram_info =
      ParseModelProto(testing::ReadGzip(SpmPath("unigram.model")));
  REQUIRE(unigram_info.ok());
  std::vector<std::string> texts;
  for (const std::string& line : Lines(testing::BpeFixturePath("corpus.txt.gz"))) {
    texts.push_back(json::parse(std::vector<absl::string_view>(absl::StrSplit(line, '\t'))[0])
                        .get<std::string>());
  }
  const std::vector<std::string> expected = Lines(SpmPath("ids.txt.gz"));
  REQUIRE(expected.size() == texts.size());
  REQUIRE(texts.size() >= 10000);
  size_t passed[3] = {0, 0, 0};
  size_t unigram_ties = 0;
  std::vector<std::string> failures;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<absl::string_view> fields = absl::StrSplit(expected[i], '\t');
    REQUIRE(fields.size() == 2);
    const V want_bpe = ParseIds(fields[0]);
    const V want_unigram = ParseIds(fields[1]);
    const V got[3] = {Encode(*bpe, texts[i]), Encode(*unigram, texts[i]), Encode(*gguf, texts[i])};
    const V* want[3] = {&want_bpe, &want_unigram, &want_bpe};
    for (int k = 0; k < 3; ++k) {
      if (got[k] == *want[k]) {
        ++passed[k];
        continue;
      }
      // Debian's libsentencepiece (0.1.97) and the Python package (0.2.3) break ties between
      // Unigram segmentations of equal score differently; both are best segmentations.
      if (k == 1 &&
          std::abs(TotalScore(unigram_info->scores, got[k]) -
                   TotalScore(unigram_info->scores, *want[k])) < 1e-3 &&
          unigram->Decode(got[k]) == unigram->Decode(*want[k])) {
        ++unigram_ties;
        continue;
      }
      if (failures.size() < 10) {
        failures.push_back(absl::StrCat(k == 0   ? "bpe"
                                        : k == 1 ? "unigram"
                                                 : "gguf",
                                        " line ", i + 1, ": ", json(texts[i]).dump(),
                                        "\n  expected ", absl::StrJoin(*want[k], " "),
                                        "\n  got      ", absl::StrJoin(got[k], " ")));
      }
    }
  }
  INFO("bpe.model " << passed[0] << ", unigram.model " << passed[1] << " (+" << unigram_ties
                    << " equal-score ties), bpe.gguf " << passed[2] << " of " << texts.size()
                    << "\n"
                    << absl::StrJoin(failures, "\n"));
  CHECK(passed[0] == texts.size());
  CHECK(passed[1] + unigram_ties == texts.size());
  CHECK(unigram_ties < texts.size() / 50);
  CHECK(passed[2] == texts.size());
}

TEST_CASE("sentencepiece golden: decoding matches the sentencepiece package",
          "[tokenizers][sentencepiece][golden]") {
  const std::unique_ptr<SentencePieceTokenizer> bpe = LoadModel("bpe.model");
  const std::unique_ptr<SentencePieceTokenizer> unigram = LoadModel("unigram.model");
  const std::unique_ptr<CausalTokenizer> gguf = LoadGguf();
  size_t cases = 0;
  size_t passed = 0;
  std::vector<std::string> failures;
  for (const std::string& line : Lines(SpmPath("decode.jsonl.gz"))) {
    const json c = json::parse(line);
    const V ids = c["ids"].get<V>();
    const std::string expected = c["expect"];
    const bool is_bpe = c["model"] == "bpe";
    ++cases;
    const std::string got = (is_bpe ? *bpe : *unigram).Decode(ids);
    const std::string via_gguf = is_bpe ? gguf->Decode(ids) : expected;
    if (got == expected && via_gguf == expected) {
      ++passed;
    } else if (failures.size() < 10) {
      failures.push_back(absl::StrCat(c["model"].get<std::string>(), " ", absl::StrJoin(ids, " "),
                                      "\n  expected ", json(expected).dump(), "\n  got      ",
                                      json(got).dump(), "\n  gguf     ", json(via_gguf).dump()));
    }
  }
  REQUIRE(cases >= 500);
  INFO(passed << " of " << cases << "\n" << absl::StrJoin(failures, "\n"));
  CHECK(passed == cases);
}

TEST_CASE("sentencepiece: control tokens on request, user-defined always, BOS and EOS",
          "[tokenizers][sentencepiece]") {
  const std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadModel("bpe.model");
  const std::optional<uint32_t> start = tokenizer->TokenToId("<|im_start|>");
  const std::optional<uint32_t> end = tokenizer->TokenToId("<|im_end|>");
  const std::optional<uint32_t> tool = tokenizer->TokenToId("<tool>");
  REQUIRE(start.has_value());
  REQUIRE(end.has_value());
  REQUIRE(tool.has_value());
  CHECK(tokenizer->IsSpecial(*start));
  CHECK(tokenizer->token_type(*tool) == TokenType::kUserDefined);
  CHECK(tokenizer->bos_id() == 1u);
  CHECK(tokenizer->eos_id() == 2u);
  CHECK(tokenizer->unk_id() == 0u);

  V expected = {*start};
  const V user = Encode(*tokenizer, "user\nhi");
  expected.insert(expected.end(), user.begin(), user.end());
  expected.push_back(*end);
  CHECK(Encode(*tokenizer, "<|im_start|>user\nhi<|im_end|>", false, true) == expected);
  // As text, the markers are no control ids.
  for (uint32_t id : Encode(*tokenizer, "<|im_start|>user\nhi<|im_end|>")) {
    CHECK_FALSE(tokenizer->IsSpecial(id));
  }
  const V with_tool = Encode(*tokenizer, "a<tool>b");
  CHECK(std::find(with_tool.begin(), with_tool.end(), *tool) != with_tool.end());

  CHECK(Encode(*tokenizer, "hi", true).front() == 1u);  // BOS by default
  const std::unique_ptr<SentencePieceTokenizer> both =
      LoadModel("bpe.model", SentencePieceTokenizer::Options{true, true});
  const V wrapped = Encode(*both, "hi", true);
  CHECK(wrapped.front() == 1u);
  CHECK(wrapped.back() == 2u);
  CHECK(Encode(*both, "", true) == V{1, 2});
  const std::unique_ptr<SentencePieceTokenizer> bare =
      LoadModel("bpe.model", SentencePieceTokenizer::Options{false, false});
  CHECK(Encode(*bare, "hi", true) == Encode(*bare, "hi", false));

  absl::StatusOr<V> invalid = tokenizer->Encode("ab\xC0", true, true);
  REQUIRE_FALSE(invalid.ok());
  CHECK(invalid.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(invalid.status().message().find("byte offset 2") != absl::string_view::npos);
}

TEST_CASE("sentencepiece: decoding with control tokens, token bytes and streaming",
          "[tokenizers][sentencepiece]") {
  const std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadModel("bpe.model");
  const uint32_t start = *tokenizer->TokenToId("<|im_start|>");
  V ids = {1, start};
  const V hello = Encode(*tokenizer, "Hello world");
  ids.insert(ids.end(), hello.begin(), hello.end());
  ids.push_back(2);
  CHECK(tokenizer->Decode(ids) == "Hello world");
  CHECK(tokenizer->Decode(ids, /*skip_special_tokens=*/false) == "<s><|im_start|>Hello world</s>");
  V twice = hello;
  twice.push_back(start);
  twice.insert(twice.end(), hello.begin(), hello.end());
  // The second stretch keeps its leading space: only the text's first piece loses it.
  CHECK(tokenizer->Decode(twice, false) == "Hello world<|im_start|> Hello world");
  CHECK(tokenizer->Decode(V{99999}).empty());
  CHECK(tokenizer->TokenBytes(99999).empty());
  CHECK(tokenizer->TokenBytes(start) == "<|im_start|>");
  CHECK(tokenizer->TokenBytes(0) == " \xE2\x81\x87 ");  // <unk>, as libsentencepiece shows it
  const std::optional<uint32_t> byte = tokenizer->TokenToId("<0xF0>");
  REQUIRE(byte.has_value());
  CHECK(tokenizer->TokenBytes(*byte) == "\xF0");

  // An emoji the model only has as bytes arrives in one piece, once its last byte is pushed.
  const V emoji = Encode(*tokenizer, "🦜");
  StreamingDecoder stream(*tokenizer);
  std::string streamed;
  for (size_t i = 0; i < emoji.size(); ++i) {
    const std::string piece = stream.Push(emoji[i]);
    CHECK(ValidateUtf8(piece).ok());
    if (i + 1 < emoji.size() && tokenizer->token_type(emoji[i]) == TokenType::kByte) {
      CHECK(piece.find("\xF0") == std::string::npos);
    }
    streamed += piece;
  }
  streamed += stream.Finish();
  CHECK(streamed.find("🦜") != std::string::npos);
}

TEST_CASE("sentencepiece: streaming every corpus line gives whole characters",
          "[tokenizers][sentencepiece]") {
  const std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadModel("bpe.model");
  size_t checked = 0;
  for (const std::string& line : Lines(testing::BpeFixturePath("corpus.txt.gz"))) {
    const std::string text =
        json::parse(std::vector<absl::string_view>(absl::StrSplit(line, '\t'))[0]);
    const V ids = Encode(*tokenizer, text);
    StreamingDecoder stream(*tokenizer);
    std::string streamed;
    std::string bytes;
    bool whole = true;
    for (uint32_t id : ids) {
      const std::string piece = stream.Push(id);
      whole = whole && ValidateUtf8(piece).ok();
      streamed += piece;
      bytes += std::string(tokenizer->TokenBytes(id));
    }
    streamed += stream.Finish();
    std::string lossy;
    AppendUtf8Lossy(bytes, &lossy);
    CHECK(whole);
    CHECK(streamed == lossy);
    ++checked;
  }
  CHECK(checked >= 10000);
}

TEST_CASE("sentencepiece: malformed models and vocabularies are refused, never a crash",
          "[tokenizers][sentencepiece]") {
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> missing =
      SentencePieceTokenizer::FromFile(SpmPath("absent.model"), {});
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> garbage =
      SentencePieceTokenizer::FromSerializedProto("not a model at all", {});
  CHECK(garbage.status().code() == absl::StatusCode::kInvalidArgument);

  const std::string model = testing::ReadGzip(SpmPath("bpe.model"));  // gzread passes plain files
  for (size_t length = 0; length < model.size(); length += 97) {
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> truncated =
        SentencePieceTokenizer::FromSerializedProto(absl::string_view(model).substr(0, length), {});
    if (truncated.ok()) continue;  // a cut between pieces is a smaller valid model
    CHECK(truncated.status().code() == absl::StatusCode::kInvalidArgument);
  }
  for (size_t pos = 0; pos < model.size(); pos += 131) {
    std::string corrupt = model;
    corrupt[pos] = static_cast<char>(corrupt[pos] ^ 0x5A);
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
        SentencePieceTokenizer::FromSerializedProto(corrupt, {});
    if (tokenizer.ok()) {
      (void)(*tokenizer)->Encode("Hello, world 123", true, true);
    } else {
      CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }

  SentencePieceVocab vocab;
  vocab.tokens = {"<unk>", "<|begin|>", "</s>", "▁a", "a"};  // BOS is not named <s>
  vocab.token_types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl,
                       TokenType::kNormal, TokenType::kNormal};
  vocab.scores = {0, 0, 0, -1, -2};
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.unk_id = 0;
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> ok =
      SentencePieceTokenizer::FromVocab(vocab);
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  CHECK(Encode(**ok, "a a", true) == V{1, 3, 3});
  auto refused = [](const SentencePieceVocab& bad, const std::string& part) {
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
        SentencePieceTokenizer::FromVocab(bad);
    REQUIRE_FALSE(tokenizer.ok());
    INFO(tokenizer.status().ToString());
    CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(tokenizer.status().message().find(part) != absl::string_view::npos);
  };
  SentencePieceVocab bad = vocab;
  bad.scores.pop_back();
  refused(bad, "4 scores for 5 tokens");
  bad = vocab;
  bad.eos_id = 7;
  refused(bad, "EOS id 7");
  bad = vocab;
  bad.unk_id.reset();
  bad.token_types[0] = TokenType::kNormal;
  refused(bad, "unknown token");
  bad = vocab;
  bad.tokens[4] = "▁a";
  refused(bad, "libsentencepiece");
  bad = vocab;
  bad.tokens[4] = "\xFF";
  refused(bad, "token 4");
}

TEST_CASE("sentencepiece model proto: what is written reads back", "[tokenizers][sentencepiece]") {
  SentencePieceVocab vocab;
  vocab.tokens = {"<unk>", "<s>", "<0x41>", "▁x"};
  vocab.token_types = {TokenType::kNormal, TokenType::kControl, TokenType::kByte,
                       TokenType::kUserDefined};
  vocab.scores = {0, 0, 0, -3.5f};
  vocab.unk_id = 0;
  vocab.add_space_prefix = false;
  absl::StatusOr<SentencePieceModelInfo> info = ParseModelProto(SerializeModelProto(vocab));
  REQUIRE(info.ok());
  CHECK(info->pieces == vocab.tokens);
  CHECK(info->scores == vocab.scores);
  CHECK(info->types == std::vector<TokenType>{TokenType::kUnknown, TokenType::kControl,
                                              TokenType::kByte, TokenType::kUserDefined});
  CHECK(info->algorithm == SentencePieceAlgorithm::kBpe);
  CHECK(info->byte_fallback);
  CHECK_FALSE(info->add_dummy_prefix);
  CHECK_FALSE(ParseModelProto("").ok());
  CHECK_FALSE(ParseModelProto("\x0a\xff\xff\xff\xff\x0f").ok());  // a length past the end
}

}  // namespace
}  // namespace trustformers::tokenizers

namespace trustformers::tokenizers {
namespace {

// libsentencepiece's own protobuf-lite and the system libprotobuf of our gRPC messages share this
// process (this binary links both): SentencePiece must bind to its own copy, and our messages
// must keep working after it ran.
TEST_CASE("sentencepiece: runs beside libprotobuf in one process", "[sentencepiece]") {
  v1::GenerateRequest before;
  before.set_model("m");
  before.mutable_sampling()->add_stop("end");
  const std::string wire = before.SerializeAsString();

  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadModel("unigram.model");
  absl::StatusOr<std::vector<uint32_t>> ids = tokenizer->Encode("Hello world.");
  REQUIRE(ids.ok());
  CHECK(!ids->empty());

  v1::GenerateRequest after;
  REQUIRE(after.ParseFromString(wire));
  CHECK(after.sampling().stop(0) == "end");
}

}  // namespace
}  // namespace trustformers::tokenizers
