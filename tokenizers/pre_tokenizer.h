// Pre-tokenization for BPE models: text cut into the pieces the model tokenizes one at a time,
// as a pipeline of steps that each cut every piece further. The steps are those of tokenizer.json
// (Split by a regular expression or a string with one of its delimiter behaviours, Digits,
// ByteLevel, and Sequence to chain them) and, for GGUF files, the regular-expression sets behind
// each `tokenizer.ggml.pre` name followed by the byte-level mapping.
//
// Immutable once built; Split may be called from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace trustformers::tokenizers {

class Regex;

// What Split does with the delimiters it finds (tokenizer.json's SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,             // dropped
  kIsolated,            // pieces of their own
  kMergedWithPrevious,  // appended to the piece before
  kMergedWithNext,      // prepended to the piece after
  kContiguous,          // adjacent delimiters form one piece
};

class PreTokenizer {
 public:
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // The pipeline for a GGUF `tokenizer.ggml.pre` name (see gguf_pre_tokenizers.h); UNIMPLEMENTED
  // naming it, and the names known, when there is none.
  static absl::StatusOr<PreTokenizer> ForGgufName(absl::string_view name);
  // From a tokenizer.json "pre_tokenizer" object (a null one gives an empty pipeline);
  // UNIMPLEMENTED for types other than Split, Digits, ByteLevel and Sequence.
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& config);

  // Steps, in the order they run. With `invert`, the pattern's matches are treated as the text
  // between delimiters and vice versa.
  absl::Status AddRegexSplit(absl::string_view pattern, SplitBehavior behavior, bool invert);
  void AddStringSplit(std::string delimiter, SplitBehavior behavior, bool invert);
  // Numeric characters (general categories Nd, Nl, No): each alone, or runs of them together.
  void AddDigits(bool individual);
  // Optionally a space before each piece that lacks one, optionally the GPT-2 split, then every
  // byte of every piece replaced by its byte-level character (byte_level.h).
  absl::Status AddByteLevel(bool add_prefix_space, bool use_regex);

  // Appends the non-empty pieces of `text` (valid UTF-8). INVALID_ARGUMENT when a regular
  // expression gives up on the text (see Regex::FindAll).
  absl::Status Split(absl::string_view text, std::vector<std::string>* pieces) const;

  // Whether a ByteLevel step maps the pieces to the byte-level alphabet.
  bool byte_level() const { return byte_level_; }
  size_t step_count() const { return steps_.size(); }

 private:
  struct Step;
  absl::Status AddJsonStep(const nlohmann::json& config, const std::string& path, int depth);

  std::vector<std::unique_ptr<Step>> steps_;
  bool byte_level_ = false;
};

// The pattern of GPT-2's pre-tokenizer, as tokenizer.json's ByteLevel step uses it.
extern const char kGpt2SplitPattern[];

}  // namespace trustformers::tokenizers
