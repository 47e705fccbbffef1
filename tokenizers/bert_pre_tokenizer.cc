#include "tokenizers/bert_pre_tokenizer.h"

#include "tokenizers/unicode.h"

namespace trustformers::tokenizers {

void BertPreTokenizer::Split(const NormalizedString& text, std::vector<NormalizedString>* words) {
  const std::vector<AlignedChar>& chars = text.chars();
  size_t word_start = 0;
  for (size_t i = 0; i < chars.size(); ++i) {
    const char32_t c = chars[i].code_point;
    const bool space = IsWhitespace(c);
    if (!space && !IsAsciiPunctuation(c) && !IsPunctuation(c)) continue;
    if (word_start < i) words->push_back(text.Slice(word_start, i));
    if (!space) words->push_back(text.Slice(i, i + 1));
    word_start = i + 1;
  }
  if (word_start < chars.size()) words->push_back(text.Slice(word_start, chars.size()));
}

}  // namespace trustformers::tokenizers
