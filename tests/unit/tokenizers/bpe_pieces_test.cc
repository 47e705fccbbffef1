// The pieces of the byte-level BPE tokenizer, each on its own: the byte-level alphabet, lossy
// UTF-8 and held-back tails, the PCRE2 wrapper, pre-tokenizer steps and the merge-rank model.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"
#include "tokenizers/bpe_model.h"
#include "tokenizers/byte_level.h"
#include "tokenizers/gguf_pre_tokenizers.h"
#include "tokenizers/pre_tokenizer.h"
#include "tokenizers/regex.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;

std::vector<std::string> Pieces(const PreTokenizer& pre_tokenizer, const std::string& text) {
  std::vector<std::string> pieces;
  const absl::Status status = pre_tokenizer.Split(text, &pieces);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return pieces;
}

std::string Lossy(const std::string& bytes) {
  std::string out;
  AppendUtf8Lossy(bytes, &out);
  return out;
}

TEST_CASE("bpe byte level: a bijection between bytes and 256 printable characters",
          "[tokenizers][bpe]") {
  CHECK(ByteLevelChar(' ') == U'\u0120');   // "Ġ"
  CHECK(ByteLevelChar('\n') == U'\u010A');  // "Ċ"
  CHECK(ByteLevelChar('a') == U'a');
  CHECK(ByteLevelChar(0xAD) == U'\u0143');  // soft hyphen, the last remapped byte
  CHECK(ByteLevelChar(0xE9) == U'\u00E9');
  for (int b = 0; b < 256; ++b) {
    const std::optional<uint8_t> back = ByteLevelByte(ByteLevelChar(static_cast<uint8_t>(b)));
    REQUIRE(back.has_value());
    CHECK(*back == b);
  }
  CHECK_FALSE(ByteLevelByte(U'\u0144').has_value());
  CHECK_FALSE(ByteLevelByte(U' ').has_value());  // a space is always remapped
  CHECK(ByteTokenValue("<0x0A>") == 0x0A);
  CHECK(ByteTokenValue("<0xff>") == 0xFF);
  CHECK_FALSE(ByteTokenValue("<0xG0>").has_value());
  CHECK_FALSE(ByteTokenValue("0x0A").has_value());

  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string mapped;
  AppendByteLevel(all, &mapped);
  CHECK(ValidateUtf8(mapped).ok());
  std::string back;
  REQUIRE(AppendByteLevelDecoded(mapped, &back));
  CHECK(back == all);
  back = "kept";
  CHECK_FALSE(AppendByteLevelDecoded("a b", &back));  // a raw space is outside the alphabet
  CHECK(back == "kept");
}

TEST_CASE("bpe utf8: lossy decoding replaces maximal ill-formed subsequences",
          "[tokenizers][bpe]") {
  CHECK(Lossy("abc") == "abc");
  CHECK(Lossy("\xC3\xA9") == "\xC3\xA9");
  CHECK(Lossy("\xFF") == "\xEF\xBF\xBD");
  CHECK(Lossy("a\x80z") == "a\xEF\xBF\xBDz");
  // A truncated 4-byte sequence is one replacement, then the next character.
  CHECK(Lossy("\xF0\x9F\x98z") == "\xEF\xBF\xBDz");
  // E0 80 is never a prefix of a well-formed sequence: two replacements.
  CHECK(Lossy("\xE0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(Lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  CHECK(Lossy("\xE2\x82") == "\xEF\xBF\xBD");                              // unfinished at the end

  CHECK(IncompleteUtf8Tail("") == 0);
  CHECK(IncompleteUtf8Tail("ab") == 0);
  CHECK(IncompleteUtf8Tail("a\xF0") == 1);
  CHECK(IncompleteUtf8Tail("a\xF0\x9F") == 2);
  CHECK(IncompleteUtf8Tail("a\xF0\x9F\x98") == 3);
  CHECK(IncompleteUtf8Tail("a\xF0\x9F\x98\x80") == 0);  // complete
  CHECK(IncompleteUtf8Tail("\xE0\x80") == 0);           // can never complete
  CHECK(IncompleteUtf8Tail("\x80\x80") == 0);
  CHECK(IncompleteUtf8Tail("\xC3") == 1);
}

TEST_CASE("bpe regex: \\s and \\S mean Unicode White_Space, as in Oniguruma", "[tokenizers][bpe]") {
  const std::string rewritten = RewriteWhitespaceClasses(R"(a\sb[^\s\p{L}]\S(?!\S)\\s[\s]\Q\s\E)");
  CHECK(rewritten.find("\\x{180E}") == std::string::npos);
  CHECK(rewritten.find("\\\\s") != std::string::npos);  // an escaped backslash stays
  CHECK(rewritten.find("\\Q\\s\\E") != std::string::npos);
  absl::StatusOr<std::unique_ptr<Regex>> space = Regex::Compile(R"(\s+)");
  REQUIRE(space.ok());
  std::vector<Regex::Match> matches;
  // U+180E MONGOLIAN VOWEL SEPARATOR is not White_Space (PCRE2 alone would say it is); U+0085 is.
  REQUIRE((*space)
              ->FindAll("a\xE1\xA0\x8E"
                        "b\xC2\x85"
                        "c",
                        &matches)
              .ok());
  REQUIRE(matches.size() == 1);
  CHECK(matches[0].begin == 5);
  CHECK(matches[0].end == 7);
  absl::StatusOr<std::unique_ptr<Regex>> non_space = Regex::Compile(R"(x(?!\S))");
  REQUIRE(non_space.ok());
  matches.clear();
  REQUIRE((*non_space)->FindAll("x\xE1\xA0\x8Ex x", &matches).ok());
  REQUIRE(matches.size() == 2);  // "x" before U+180E is followed by a non-space
  CHECK(matches[0].begin == 4);
  CHECK(matches[1].begin == 6);
}

TEST_CASE("bpe regex: syntax errors, empty matches and Unicode properties", "[tokenizers][bpe]") {
  absl::StatusOr<std::unique_ptr<Regex>> bad = Regex::Compile("(unclosed");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("(unclosed") != absl::string_view::npos);

  absl::StatusOr<std::unique_ptr<Regex>> optional = Regex::Compile("b*");
  REQUIRE(optional.ok());
  std::vector<Regex::Match> matches;
  REQUIRE((*optional)
              ->FindAll("ab\xC3\xA9"
                        "bb",
                        &matches)
              .ok());  // empty matches are skipped
  REQUIRE(matches.size() == 2);
  CHECK(matches[0].begin == 1);
  CHECK(matches[1].begin == 4);
  CHECK(matches[1].end == 6);

  absl::StatusOr<std::unique_ptr<Regex>> letters = Regex::Compile(R"(\p{L}+)");
  REQUIRE(letters.ok());
  matches.clear();
  REQUIRE((*letters)->FindAll("Größe 中文 42", &matches).ok());
  CHECK(matches.size() == 2);
}

TEST_CASE("bpe regex: a catastrophic pattern stops at the match limit", "[tokenizers][bpe]") {
  absl::StatusOr<std::unique_ptr<Regex>> evil = Regex::Compile("(a+)+$");
  REQUIRE(evil.ok());
  std::vector<Regex::Match> matches;
  const absl::Status status = (*evil)->FindAll(std::string(40, 'a') + "!", &matches);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message().find("too complex") != absl::string_view::npos);
  CHECK(status.message().find("(a+)+$") != absl::string_view::npos);
  // The same pattern on text it can settle quickly is fine.
  CHECK((*evil)->FindAll(std::string(40, 'a'), &matches).ok());
}

TEST_CASE("bpe pre-tokenizer: the GPT-2 split and the byte-level mapping", "[tokenizers][bpe]") {
  PreTokenizer pre_tokenizer;
  REQUIRE(pre_tokenizer.AddByteLevel(/*add_prefix_space=*/false, /*use_regex=*/true).ok());
  CHECK(pre_tokenizer.byte_level());
  CHECK(
      Pieces(pre_tokenizer, "Hello world, it's 2024!  ok\n") ==
      std::vector<std::string>{"Hello", "Ġworld", ",", "Ġit", "'s", "Ġ2024", "!", "Ġ", "Ġok", "Ċ"});
  PreTokenizer prefixed;
  REQUIRE(prefixed.AddByteLevel(/*add_prefix_space=*/true, /*use_regex=*/false).ok());
  CHECK(Pieces(prefixed, "a b") == std::vector<std::string>{"ĠaĠb"});
  CHECK(Pieces(prefixed, " a") == std::vector<std::string>{"Ġa"});
  CHECK(Pieces(prefixed, "").empty());
}

TEST_CASE("bpe pre-tokenizer: Digits, individual or in runs", "[tokenizers][bpe]") {
  PreTokenizer individual;
  individual.AddDigits(true);
  CHECK(Pieces(individual, "a12b٣½") == std::vector<std::string>{"a", "1", "2", "b", "٣", "½"});
  PreTokenizer runs;
  runs.AddDigits(false);
  CHECK(Pieces(runs, "a12b٣½") == std::vector<std::string>{"a", "12", "b", "٣½"});
}

TEST_CASE("bpe pre-tokenizer: Split behaviours and invert", "[tokenizers][bpe]") {
  auto split = [](SplitBehavior behavior, bool invert, const std::string& text) {
    PreTokenizer pre_tokenizer;
    REQUIRE(pre_tokenizer.AddRegexSplit("-", behavior, invert).ok());
    return Pieces(pre_tokenizer, text);
  };
  using V = std::vector<std::string>;
  const std::string text = "a-b--c-";
  CHECK(split(SplitBehavior::kRemoved, false, text) == V{"a", "b", "c"});
  CHECK(split(SplitBehavior::kIsolated, false, text) == V{"a", "-", "b", "-", "-", "c", "-"});
  CHECK(split(SplitBehavior::kMergedWithPrevious, false, text) == V{"a-", "b-", "-", "c-"});
  CHECK(split(SplitBehavior::kMergedWithNext, false, text) == V{"a", "-b", "-", "-c", "-"});
  CHECK(split(SplitBehavior::kContiguous, false, text) == V{"a", "-", "b", "--", "c", "-"});
  CHECK(split(SplitBehavior::kRemoved, true, text) == V{"-", "-", "-", "-"});
  CHECK(split(SplitBehavior::kMergedWithPrevious, false, "-a") == V{"-", "a"});

  PreTokenizer literal;
  literal.AddStringSplit("ab", SplitBehavior::kIsolated, false);
  CHECK(Pieces(literal, "xabyab") == V{"x", "ab", "y", "ab"});
  PreTokenizer empty;
  empty.AddStringSplit("", SplitBehavior::kIsolated, false);
  CHECK(Pieces(empty, "xy") == V{"xy"});
}

TEST_CASE("bpe pre-tokenizer: tokenizer.json forms and their errors", "[tokenizers][bpe]") {
  absl::StatusOr<PreTokenizer> sequence = PreTokenizer::FromJson(json::parse(R"({
    "type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated",
       "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})"));
  REQUIRE(sequence.ok());
  CHECK(Pieces(*sequence, "x12345 y") == std::vector<std::string>{"x", "123", "45", "Ġy"});
  CHECK(PreTokenizer::FromJson(json(nullptr))->step_count() == 0);

  auto error = [](const std::string& text) {
    absl::StatusOr<PreTokenizer> parsed = PreTokenizer::FromJson(json::parse(text));
    REQUIRE_FALSE(parsed.ok());
    return parsed.status();
  };
  absl::Status status = error(R"({"type": "Metaspace", "replacement": "_"})");
  CHECK(status.code() == absl::StatusCode::kUnimplemented);
  CHECK(status.message().find("Metaspace") != absl::string_view::npos);
  status = error(R"({"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"})");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  status = error(R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"})");
  CHECK(status.message().find("Sideways") != absl::string_view::npos);
  status = error(R"({"type": "Split", "pattern": {"Glob": "a"}, "behavior": "Isolated"})");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  status = error(R"({"type": "Sequence", "pretokenizers": {}})");
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("bpe pre-tokenizer: GGUF names, and unknown ones refused", "[tokenizers][bpe]") {
  for (const char* name :
       {"default", "gpt-2", "llama-bpe", "llama3", "qwen2", "smollm", "starcoder", "falcon",
        "deepseek-coder", "deepseek-v3", "bloom", "command-r", "dbrx"}) {
    INFO(name);
    absl::StatusOr<PreTokenizer> pre_tokenizer = PreTokenizer::ForGgufName(name);
    INFO(pre_tokenizer.status().ToString());
    REQUIRE(pre_tokenizer.ok());
    CHECK(pre_tokenizer->byte_level());
    CHECK_FALSE(Pieces(*pre_tokenizer, "Hello world 12345 中文 it's\n\n  x").empty());
  }
  CHECK(FindGgufPreTokenizer("llama-bpe")->ignore_merges);
  CHECK(FindGgufPreTokenizer("llama-bpe")->add_bos);
  CHECK_FALSE(FindGgufPreTokenizer("smollm")->add_bos);
  CHECK(Pieces(*PreTokenizer::ForGgufName("smollm"), "ab123") ==
        std::vector<std::string>{"ab", "1", "2", "3"});
  CHECK(Pieces(*PreTokenizer::ForGgufName("llama-bpe"), "ab12345") ==
        std::vector<std::string>{"ab", "123", "45"});
  absl::StatusOr<PreTokenizer> unknown = PreTokenizer::ForGgufName("tekken-9000");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(unknown.status().message().find("tekken-9000") != absl::string_view::npos);
  CHECK(unknown.status().message().find("smollm") != absl::string_view::npos);
}

// A vocabulary of single letters and the merges' results.
BpeModel::Vocab LetterVocab() {
  return {{"a", 0},  {"b", 1},     {"c", 2},      {"ab", 3},     {"bc", 4},      {"abc", 5},
          {"aa", 6}, {"<unk>", 7}, {"<0x78>", 8}, {"<0xC3>", 9}, {"<0xA9>", 10}, {"aaa", 11}};
}

std::vector<uint32_t> Tokens(const BpeModel& model, const std::string& piece) {
  std::vector<uint32_t> ids;
  model.Tokenize(piece, &ids);
  return ids;
}

TEST_CASE("bpe model: the lowest-ranked pair merges first, leftmost on ties", "[tokenizers][bpe]") {
  using V = std::vector<uint32_t>;
  // "b c" outranks "a b": "abc" -> a + bc, and no "a bc" merge exists.
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(LetterVocab(), {{"b", "c"}, {"a", "b"}, {"a", "a"}}, {});
  REQUIRE(model.ok());
  CHECK(Tokens(**model, "abc") == V{0, 4});
  CHECK(Tokens(**model, "ab") == V{3});
  // Overlapping candidates: the leftmost pair of equal rank merges, the next is then stale.
  CHECK(Tokens(**model, "aaa") == V{6, 0});
  CHECK(Tokens(**model, "aaaa") == V{6, 6});
  CHECK(Tokens(**model, "").empty());
  CHECK((*model)->merge_count() == 3);

  absl::StatusOr<std::unique_ptr<BpeModel>> chained =
      BpeModel::Create(LetterVocab(), {{"a", "b"}, {"ab", "c"}, {"b", "c"}}, {});
  REQUIRE(chained.ok());
  CHECK(Tokens(**chained, "abc") == V{5});
  CHECK(Tokens(**chained, "cabcab") == V{2, 5, 3});

  // A repeated pair keeps its first (highest-priority) rank.
  absl::StatusOr<std::unique_ptr<BpeModel>> repeated =
      BpeModel::Create(LetterVocab(), {{"a", "b"}, {"b", "c"}, {"a", "b"}}, {});
  REQUIRE(repeated.ok());
  CHECK(Tokens(**repeated, "abc") == V{3, 2});
}

TEST_CASE("bpe model: ignore_merges, unknown characters and byte fallback", "[tokenizers][bpe]") {
  using V = std::vector<uint32_t>;
  BpeModel::Options whole;
  whole.ignore_merges = true;
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(LetterVocab(), {{"a", "a"}}, whole);
  REQUIRE(model.ok());
  CHECK(Tokens(**model, "aaa") == V{11});     // in the vocabulary: taken whole
  CHECK(Tokens(**model, "aaaa") == V{6, 6});  // not: merged

  absl::StatusOr<std::unique_ptr<BpeModel>> dropping = BpeModel::Create(LetterVocab(), {}, {});
  REQUIRE(dropping.ok());
  CHECK(Tokens(**dropping, "axb") == V{0, 1});  // no unknown token: the character is dropped

  BpeModel::Options unk;
  unk.unk_token = "<unk>";
  absl::StatusOr<std::unique_ptr<BpeModel>> separate = BpeModel::Create(LetterVocab(), {}, unk);
  REQUIRE(separate.ok());
  CHECK(Tokens(**separate, "axyb") == V{0, 7, 7, 1});
  unk.fuse_unk = true;
  absl::StatusOr<std::unique_ptr<BpeModel>> fused = BpeModel::Create(LetterVocab(), {}, unk);
  REQUIRE(fused.ok());
  CHECK(Tokens(**fused, "axyb") == V{0, 7, 1});

  BpeModel::Options bytes;
  bytes.byte_fallback = true;
  bytes.unk_token = "<unk>";
  absl::StatusOr<std::unique_ptr<BpeModel>> fallback = BpeModel::Create(LetterVocab(), {}, bytes);
  REQUIRE(fallback.ok());
  CHECK(Tokens(**fallback, "x\xC3\xA9y") == V{8, 9, 10, 7});  // "y" has no byte token

  BpeModel::Options missing;
  missing.unk_token = "<nope>";
  absl::StatusOr<std::unique_ptr<BpeModel>> no_unk = BpeModel::Create(LetterVocab(), {}, missing);
  CHECK(no_unk.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("bpe model: merges of tokens outside the vocabulary are refused", "[tokenizers][bpe]") {
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(LetterVocab(), {{"a", "b"}, {"c", "c"}}, {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(model.status().message().find("merge 1") != absl::string_view::npos);
  CHECK(model.status().message().find("'cc'") != absl::string_view::npos);
  model = BpeModel::Create(LetterVocab(), {{"z", "a"}}, {});
  REQUIRE_FALSE(model.ok());
  CHECK(model.status().message().find("'z'") != absl::string_view::npos);
}

TEST_CASE("bpe model: continuing-subword prefix and end-of-word suffix", "[tokenizers][bpe]") {
  BpeModel::Vocab vocab = {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"c</w>", 4}};
  BpeModel::Options options;
  options.continuing_subword_prefix = "##";
  options.end_of_word_suffix = "</w>";
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(vocab, {{"a", "##b"}}, options);
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  CHECK(Tokens(**model, "abc") == std::vector<uint32_t>{3, 2});
  CHECK(Tokens(**model, "c") == std::vector<uint32_t>{4});
}

}  // namespace
}  // namespace trustformers::tokenizers
