#include "engine/sampling/stop_matcher.h"

#include <optional>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/sampling/stop_checker.h"
#include "tokenizers/utf8.h"

namespace trustformers::engine {
namespace {

struct Outcome {
  std::string text;  // everything returned, Flush included
  std::optional<size_t> matched;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// Feeds `pieces` in order, then flushes.
Outcome Run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher matcher(stops);
  Outcome outcome;
  for (const std::string& piece : pieces) {
    StopMatcher::Result result = matcher.Push(piece);
    outcome.text += result.text;
    if (result.matched) {
      REQUIRE(!outcome.matched);
      outcome.matched = result.matched;
    }
  }
  outcome.text += matcher.Flush();
  return outcome;
}

// Every way of cutting `text` into at most three pieces at character boundaries.
std::vector<std::vector<std::string>> Splits(const std::string& text) {
  std::vector<size_t> cuts;
  for (size_t pos = 0; pos <= text.size();) {
    cuts.push_back(pos);
    if (pos == text.size()) break;
    size_t next = pos;
    tokenizers::DecodeUtf8(text, &next);
    pos = next;
  }
  std::vector<std::vector<std::string>> splits;
  for (size_t a : cuts) {
    for (size_t b : cuts) {
      if (b < a) continue;
      splits.push_back({text.substr(0, a), text.substr(a, b - a), text.substr(b)});
    }
  }
  return splits;
}

// The reference: the occurrence that ends first in the whole text (ties: starts first).
Outcome Reference(const std::vector<std::string>& stops, const std::string& text) {
  size_t best_end = std::string::npos, best_start = 0;
  std::optional<size_t> matched;
  for (size_t i = 0; i < stops.size(); ++i) {
    const size_t start = text.find(stops[i]);
    if (start == std::string::npos) continue;
    const size_t end = start + stops[i].size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_end = end;
      best_start = start;
      matched = i;
    }
  }
  if (!matched) return {text, std::nullopt};
  return {text.substr(0, best_start), matched};
}

void CheckEverySplit(const std::vector<std::string>& stops, const std::string& text,
                     const Outcome& expected) {
  REQUIRE(Reference(stops, text) == expected);
  for (const std::vector<std::string>& pieces : Splits(text)) {
    INFO("pieces: '" << pieces[0] << "' '" << pieces[1] << "' '" << pieces[2] << "'");
    CHECK(Run(stops, pieces) == expected);
  }
}

TEST_CASE("stop matcher: without stop strings text passes straight through", "[stop]") {
  StopMatcher matcher({});
  CHECK(matcher.Push("hello").text == "hello");
  CHECK(matcher.Push(" world").text == " world");
  CHECK(matcher.Flush().empty());
}

TEST_CASE("stop matcher: a stop string in one piece", "[stop]") {
  StopMatcher matcher({"wor"});
  StopMatcher::Result result = matcher.Push("hello world");
  CHECK(result.text == "hello ");
  CHECK(result.matched == 0u);
  CHECK(matcher.stopped());
  CHECK(matcher.Push("more").text.empty());
  CHECK(matcher.Flush().empty());
}

TEST_CASE("stop matcher: holds back a possible start and releases it when it fails", "[stop]") {
  StopMatcher matcher({"<|end|>"});
  CHECK(matcher.Push("a <|").text == "a ");
  CHECK(matcher.Push("en").text.empty());
  StopMatcher::Result result = matcher.Push("x");
  CHECK(result.text == "<|enx");
  CHECK(!result.matched);
  CHECK(matcher.Push("<").text.empty());
  CHECK(matcher.Flush() == "<");
}

TEST_CASE("stop matcher: a stop string split across pieces at every position", "[stop]") {
  CheckEverySplit({"STOP"}, "abc STOP def", {"abc ", 0});
  CheckEverySplit({"\n\n"}, "line one\n\nline two", {"line one", 0});
  CheckEverySplit({"x"}, "x", {"", 0});
  CheckEverySplit({"STOP"}, "no stop here ST", {"no stop here ST", std::nullopt});
}

TEST_CASE("stop matcher: overlapping prefixes", "[stop]") {
  CheckEverySplit({"abab"}, "ababab", {"", 0});
  CheckEverySplit({"abab"}, "aabab", {"a", 0});
  CheckEverySplit({"abab"}, "abaabab", {"aba", 0});
  CheckEverySplit({"aab"}, "aaaab", {"aa", 0});
  CheckEverySplit({"abcabd"}, "abcabcabd!", {"abc", 0});
}

TEST_CASE("stop matcher: the stop string that ends first wins", "[stop]") {
  // "ab" ends before "xabc" does.
  CheckEverySplit({"xabc", "ab"}, "zxabc", {"zx", 1});
  // Both end at the same byte: the longer one, which starts first.
  CheckEverySplit({"bc", "abc"}, "zabc", {"z", 1});
  CheckEverySplit({"c", "abcd"}, "abcd", {"ab", 0});
}

TEST_CASE("stop matcher: multi-byte UTF-8 stop strings", "[stop]") {
  CheckEverySplit({"終わり"}, "これで終わりです", {"これで", 0});
  CheckEverySplit({"😀!"}, "hi 😀 ok 😀!", {"hi 😀 ok ", 0});
  // Held back text is whole characters, and every returned piece is valid UTF-8.
  StopMatcher matcher({"終わり"});
  for (const char* piece : {"こ", "れ", "で", "終", "わ", "る", "。"}) {
    const std::string text = matcher.Push(piece).text;
    CHECK(tokenizers::ValidateUtf8(text).ok());
  }
  CHECK(matcher.Flush() == "");
}

TEST_CASE("stop matcher: agrees with the whole-text reference on random input", "[stop]") {
  uint64_t state = 12345;
  const auto next = [&state](uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };
  const std::string alphabet = "abc";
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops(1 + next(3));
    for (std::string& stop : stops) {
      stop.resize(1 + next(4));
      for (char& ch : stop) ch = alphabet[next(3)];
    }
    std::string text(next(16), 'a');
    for (char& ch : text) ch = alphabet[next(3)];
    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t length = std::min(text.size() - pos, static_cast<size_t>(1 + next(4)));
      pieces.push_back(text.substr(pos, length));
      pos += length;
    }
    const Outcome expected = Reference(stops, text);
    const Outcome got = Run(stops, pieces);
    INFO("text '" << text << "' stops " << stops.size() << " first '" << stops[0] << "'");
    CHECK(got.text == expected.text);
    // Identical stop strings may match under either index.
    CHECK(got.matched.has_value() == expected.matched.has_value());
    if (got.matched && expected.matched) CHECK(stops[*got.matched] == stops[*expected.matched]);
  }
}

TEST_CASE("stop matcher: stops that end while they may not count are passed over", "[stop]") {
  SECTION("completed early: emitted as text") {
    StopMatcher matcher({"ab"});
    StopMatcher::Result result = matcher.Push("xaby", /*may_stop=*/false);
    CHECK(result.text == "xaby");
    CHECK(!result.matched);
    result = matcher.Push("ab");
    CHECK(result.text.empty());
    CHECK(result.matched == 0u);
  }
  SECTION("begun early, completed once it may count") {
    StopMatcher matcher({"abc"});
    CHECK(matcher.Push("xab", false).text == "x");
    StopMatcher::Result result = matcher.Push("c");
    CHECK(result.text.empty());
    CHECK(result.matched == 0u);
  }
  SECTION("a short stop inside held-back text that ended early") {
    StopMatcher matcher({"abcd", "b"});
    CHECK(matcher.Push("ab", false).text.empty());  // "ab" might begin "abcd"
    StopMatcher::Result result = matcher.Push("x");
    CHECK(!result.matched);
    CHECK(result.text == "abx");
    result = matcher.Push("b");
    CHECK(result.matched == 1u);
    CHECK(result.text.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// StopChecker: end tokens, max_tokens, min_tokens

SamplingParams CheckerParams() {
  SamplingParams params;
  params.max_tokens = 10;
  return params;
}

TEST_CASE("stop checker: an end-of-sequence token ends the choice, its text unsent", "[stop]") {
  SamplingParams params = CheckerParams();
  params.stop = {"END"};
  const std::vector<uint32_t> eos = {2};
  StopChecker checker(params, eos);
  CHECK(checker.Step(5, "Hi").text == "Hi");
  CHECK(checker.Step(6, " EN").text == " ");  // "EN" held back
  StepOutput out = checker.Step(2, "</s>");
  CHECK(out.finish == FinishReason::kStop);
  CHECK(out.text == "EN");
  CHECK(!out.matched_stop);
  CHECK(checker.finished());
  CHECK(checker.generated() == 3);
  CHECK(checker.Step(5, "more").text.empty());
  CHECK(checker.generated() == 3);
}

TEST_CASE("stop checker: stop_token_ids end it; ignore_eos ignores only eos", "[stop]") {
  SamplingParams params = CheckerParams();
  params.stop_token_ids = {7};
  params.ignore_eos = true;
  const std::vector<uint32_t> eos = {2};
  StopChecker checker(params, eos);
  StepOutput out = checker.Step(2, "<eos>");
  CHECK(out.finish == FinishReason::kNone);
  CHECK(out.text == "<eos>");
  out = checker.Step(7, "<stop>");
  CHECK(out.finish == FinishReason::kStop);
  CHECK(out.text.empty());
  CHECK(checker.generated() == 2);
}

TEST_CASE("stop checker: a stop string ends it and is reported", "[stop]") {
  SamplingParams params = CheckerParams();
  params.stop = {"###", "\n\n"};
  StopChecker checker(params, {});
  CHECK(checker.Step(1, "one\n").text == "one");
  StepOutput out = checker.Step(2, "\ntwo");
  CHECK(out.finish == FinishReason::kStopSequence);
  CHECK(out.matched_stop == "\n\n");
  CHECK(out.text.empty());
}

TEST_CASE("stop checker: max_tokens ends it with the held text", "[stop]") {
  SamplingParams params = CheckerParams();
  params.max_tokens = 2;
  params.stop = {"STOP"};
  StopChecker checker(params, {});
  CHECK(checker.Step(1, "a").text == "a");
  StepOutput out = checker.Step(1, " ST");
  CHECK(out.finish == FinishReason::kLength);
  CHECK(out.text == " ST");
}

TEST_CASE("stop checker: on the last token a stop string or end token wins over length", "[stop]") {
  SamplingParams params = CheckerParams();
  params.max_tokens = 2;
  params.stop = {"STOP"};
  StopChecker by_string(params, {});
  by_string.Step(1, "ST");
  CHECK(by_string.Step(1, "OP").finish == FinishReason::kStopSequence);
  const std::vector<uint32_t> eos = {2};
  StopChecker by_token(params, eos);
  by_token.Step(1, "x");
  CHECK(by_token.Step(2, "").finish == FinishReason::kStop);
}

TEST_CASE("stop checker: min_tokens holds back end tokens and stop strings", "[stop]") {
  SamplingParams params = CheckerParams();
  params.min_tokens = 2;
  params.stop = {"!"};
  const std::vector<uint32_t> eos = {2};
  StopChecker checker(params, eos);
  // Token 1: a stop string that does not count yet.
  StepOutput out = checker.Step(1, "a!");
  CHECK(out.finish == FinishReason::kNone);
  CHECK(out.text == "a!");
  // Token 2: an end token right at min_tokens does not end it either (the sampler masks it).
  out = checker.Step(2, "");
  CHECK(out.finish == FinishReason::kNone);
  // Token 3: the stop string counts now.
  out = checker.Step(1, "b!c");
  CHECK(out.finish == FinishReason::kStopSequence);
  CHECK(out.text == "b");

  StopChecker by_token(params, eos);
  by_token.Step(1, "a");
  by_token.Step(1, "b");
  CHECK(by_token.Step(2, "").finish == FinishReason::kStop);
  CHECK(by_token.generated() == 3);

  // A stop string completed by token min_tokens itself counts.
  StopChecker at_min(params, eos);
  at_min.Step(1, "a");
  CHECK(at_min.Step(1, "!").finish == FinishReason::kStopSequence);
}

TEST_CASE("stop checker: Finish releases held text once", "[stop]") {
  SamplingParams params = CheckerParams();
  params.stop = {"STOP"};
  StopChecker checker(params, {});
  CHECK(checker.Step(1, "go S").text == "go ");
  StepOutput out = checker.Finish(FinishReason::kLength);
  CHECK(out.finish == FinishReason::kLength);
  CHECK(out.text == "S");
  CHECK(checker.Finish(FinishReason::kLength).finish == FinishReason::kNone);
}

}  // namespace
}  // namespace trustformers::engine
