// Text on its way through normalisation, one code point at a time, each remembering the bytes of
// the caller's input it came from. Edits follow the Hugging Face `tokenizers` alignment rules, so
// token offsets computed from it match theirs byte for byte.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tokenizers/encoding.h"

namespace trustformers::tokenizers {

struct AlignedChar {
  char32_t code_point = 0;
  // Bytes of the original input this character stands for (a whole input character).
  Offsets source;
};

// One output character of NormalizedString::Transform.
struct CharEdit {
  char32_t code_point = 0;
  // False: the character replaces the next input character and inherits its source. True: it is
  // new and inherits the source of the input character replaced just before it.
  bool inserted = false;
};

class NormalizedString {
 public:
  NormalizedString() = default;

  // `text` is valid UTF-8 found at byte `offset` of the original input.
  static NormalizedString FromUtf8(absl::string_view text, size_t offset);

  const std::vector<AlignedChar>& chars() const { return chars_; }
  size_t size() const { return chars_.size(); }
  bool empty() const { return chars_.empty(); }

  std::string ToUtf8() const;

  // Original bytes covered by characters [begin, end), which must not be empty: from the start of
  // the first character's source to the end of the last one's.
  Offsets SourceRange(size_t begin, size_t end) const;

  // Characters [begin, end) as a piece of their own.
  NormalizedString Slice(size_t begin, size_t end) const;

  // Keeps the characters for which keep(code_point) is true.
  template <typename Predicate>
  void Filter(Predicate keep) {
    std::erase_if(chars_, [&](const AlignedChar& c) { return !keep(c.code_point); });
  }

  // Replaces every character by map(code_point), keeping its source.
  template <typename Function>
  void Map(Function map) {
    for (AlignedChar& c : chars_) c.code_point = map(c.code_point);
  }

  // Rewrites the text as `edits` (see CharEdit). Input characters left over once the edits run
  // out are dropped.
  void Transform(const std::vector<CharEdit>& edits);

 private:
  std::vector<AlignedChar> chars_;
  // Where this piece starts in the original input: the source given to a character inserted
  // before any input character.
  size_t origin_ = 0;
};

}  // namespace trustformers::tokenizers
