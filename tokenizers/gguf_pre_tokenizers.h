// The pre-tokenizers behind GGUF's `tokenizer.ggml.pre` names. A GGUF file does not carry its
// pre-tokenizer, only a name that conversion tools chose after recognising the model's
// tokenizer.json; each name stands for a list of regular expressions applied in turn (every match
// and every stretch between matches becomes a piece), followed by the byte-level mapping. The
// patterns are the models' own, as written in their tokenizer.json files.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

struct GgufPreTokenizerPreset {
  std::vector<std::string> patterns;
  // Defaults the name implies when the file does not say: Llama 3's tokenizer takes a whole piece
  // that is in the vocabulary as one token before merging, and begins every text with BOS.
  bool ignore_merges = false;
  bool add_bos = false;
};

// The preset for `name`, or nullptr when it is not one we know.
const GgufPreTokenizerPreset* FindGgufPreTokenizer(absl::string_view name);

// The names we know, sorted and comma-separated, for error messages.
std::string KnownGgufPreTokenizers();

}  // namespace trustformers::tokenizers
