// BERT's split of normalised text into words: whitespace separates words and is dropped; every
// punctuation character (ASCII punctuation and symbols, plus Unicode category P*) is a word of its
// own.
#pragma once

#include <vector>

#include "tokenizers/normalized_string.h"

namespace trustformers::tokenizers {

class BertPreTokenizer {
 public:
  // Appends the words of `text`, in order, each keeping its characters' sources.
  static void Split(const NormalizedString& text, std::vector<NormalizedString>* words);
};

}  // namespace trustformers::tokenizers
