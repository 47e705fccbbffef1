#include "tokenizers/normalized_string.h"

#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {

NormalizedString NormalizedString::FromUtf8(absl::string_view text, size_t offset) {
  NormalizedString result;
  result.origin_ = offset;
  result.chars_.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const char32_t c = DecodeUtf8(text, &pos);
    result.chars_.push_back({c, {offset + start, offset + pos}});
  }
  return result;
}

std::string NormalizedString::ToUtf8() const {
  std::string out;
  out.reserve(chars_.size());
  for (const AlignedChar& c : chars_) AppendUtf8(c.code_point, &out);
  return out;
}

Offsets NormalizedString::SourceRange(size_t begin, size_t end) const {
  return {chars_[begin].source.start, chars_[end - 1].source.end};
}

NormalizedString NormalizedString::Slice(size_t begin, size_t end) const {
  NormalizedString result;
  result.origin_ = begin < chars_.size() ? chars_[begin].source.start : origin_;
  result.chars_.assign(chars_.begin() + static_cast<std::ptrdiff_t>(begin),
                       chars_.begin() + static_cast<std::ptrdiff_t>(end));
  return result;
}

void NormalizedString::Transform(const std::vector<CharEdit>& edits) {
  std::vector<AlignedChar> result;
  result.reserve(edits.size());
  size_t consumed = 0;
  for (const CharEdit& edit : edits) {
    Offsets source;
    if (!edit.inserted && consumed < chars_.size()) {
      source = chars_[consumed++].source;
    } else if (consumed > 0) {
      source = chars_[consumed - 1].source;
    } else {
      source = {origin_, origin_};
    }
    result.push_back({edit.code_point, source});
  }
  chars_ = std::move(result);
}

}  // namespace trustformers::tokenizers
