// Decoding a stream of generated tokens into text pieces that never split a UTF-8 character: a
// character can span several byte tokens (an emoji is often four), so bytes that begin a character
// are held back until the token that completes it arrives. Bytes that can never form a character
// become U+FFFD as soon as that is certain, and Finish() turns a held-back, unfinished character
// into U+FFFD. The pieces joined equal Decode() of all the ids.
//
// Generated tokens follow a prompt, so a SentencePiece piece's leading space is kept: unlike
// Decode of a whole text, nothing strips a dummy prefix.
//
// One decoder per stream (not thread-safe); the tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "tokenizers/causal_tokenizer.h"

namespace trustformers::tokenizers {

// Bytes in, complete UTF-8 characters out; the part of the decoder that knows nothing of tokens.
class Utf8StreamAssembler {
 public:
  // The text that `bytes`, after everything pushed before, completes (possibly empty).
  std::string Push(absl::string_view bytes);
  // What is held back, as U+FFFD (empty when nothing is); the assembler is then empty.
  std::string Finish();
  // Bytes held back (0 to 3).
  size_t pending() const { return pending_.size(); }

 private:
  std::string pending_;
};

class StreamingDecoder {
 public:
  explicit StreamingDecoder(const CausalTokenizer& tokenizer, bool skip_special_tokens = true)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // The text `id` completes. Ids outside the vocabulary (and, when skipping, control tokens) add
  // nothing.
  std::string Push(uint32_t id);
  std::string Finish() { return assembler_.Finish(); }

 private:
  const CausalTokenizer& tokenizer_;
  bool skip_special_tokens_;
  Utf8StreamAssembler assembler_;
};

}  // namespace trustformers::tokenizers
