// Regular expressions for pre-tokenizers, through PCRE2 with Unicode semantics (UTF, UCP) and the
// JIT compiler where the platform has it. Patterns come from tokenizer.json files and GGUF
// pre-tokenizer names; both were written for Oniguruma (Hugging Face `tokenizers`), whose \s is
// the Unicode White_Space property while PCRE2's also takes U+180E, so \s and \S are rewritten to
// that property before compiling. Every match runs under a match limit, so a hostile pattern or
// text ends in an error instead of hanging a server thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

class Regex {
 public:
  // A match: the bytes [begin, end) of the subject.
  struct Match {
    size_t begin = 0;
    size_t end = 0;
  };

  // Backtracking steps one match may take before it is abandoned. The pre-tokenizer patterns take
  // a few per character; catastrophic patterns such as (a+)+$ exceed it within milliseconds.
  static constexpr uint32_t kDefaultMatchLimit = 10'000'000;

  // INVALID_ARGUMENT naming the pattern and the offset of a syntax error.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(absl::string_view pattern,
                                                        uint32_t match_limit = kDefaultMatchLimit);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the non-empty, non-overlapping matches in `text` (valid UTF-8), left to right.
  // INVALID_ARGUMENT naming the byte offset when a match exceeds the match limit. Thread-safe.
  absl::Status FindAll(absl::string_view text, std::vector<Match>* matches) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  Regex(std::string pattern, std::unique_ptr<Compiled> compiled);

  std::string pattern_;
  std::unique_ptr<Compiled> compiled_;
};

// `pattern` with \s and \S spelled out as the White_Space property (see the top of this file).
// Exposed for tests.
std::string RewriteWhitespaceClasses(absl::string_view pattern);

}  // namespace trustformers::tokenizers
