// What the generation path needs of a tokenizer, whatever its algorithm: text to ids (with the
// model's BOS/EOS and, on request, control tokens written in the text), ids back to bytes and
// text. BpeTokenizer (GPT-2-style byte-level BPE) and SentencePieceTokenizer implement it; the
// GGUF loader returns the one the file asks for (models/loader/gguf_tokenizer.h).
//
// Implementations are immutable once built: every method may be called from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers {

// GGUF's token types (llama.cpp's llama_token_type, SentencePiece's piece types), as stored in
// tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  // Special tokens (BOS, EOS, chat markers such as <|im_start|>): found in text only when the
  // caller asks for it, dropped by Decode(skip_special_tokens = true).
  kControl = 3,
  // Added tokens that are always found in text and always decoded.
  kUserDefined = 4,
  kUnused = 5,
  // "<0xAB>": one raw byte.
  kByte = 6,
};

class CausalTokenizer {
 public:
  virtual ~CausalTokenizer() = default;

  // Token ids for `text`. add_special_tokens: BOS/EOS as the model asks. parse_special: control
  // tokens written in the text (such as "<|im_start|>") become their ids, as llama.cpp's
  // parse_special and Hugging Face's default do; without it they are tokenized as plain text, so
  // user input cannot forge them. INVALID_ARGUMENT for text that is not valid UTF-8 (naming the
  // byte offset).
  absl::StatusOr<std::vector<uint32_t>> Encode(absl::string_view text,
                                               bool add_special_tokens = true,
                                               bool parse_special = false) const {
    return DoEncode(text, add_special_tokens, parse_special);
  }

  // The text of `ids`, valid UTF-8. Ids outside the vocabulary are skipped;
  // skip_special_tokens also drops control tokens.
  std::string Decode(std::span<const uint32_t> ids, bool skip_special_tokens = true) const {
    return DoDecode(ids, skip_special_tokens);
  }

  // The bytes `id` stands for, as a stream of generated tokens shows them (see
  // streaming_decoder.h): not necessarily UTF-8 on its own, as a character can span tokens. A
  // control token gives its own text. Empty for ids outside the vocabulary.
  virtual absl::string_view TokenBytes(uint32_t id) const = 0;

  // Ids 0 .. vocab_size()-1.
  virtual size_t vocab_size() const = 0;
  virtual std::optional<uint32_t> TokenToId(absl::string_view token) const = 0;
  // The token's string as the vocabulary spells it; nullptr outside the vocabulary.
  virtual const std::string* IdToToken(uint32_t id) const = 0;
  // kUnused outside the vocabulary.
  virtual TokenType token_type(uint32_t id) const = 0;
  // Control tokens: what Decode(skip_special_tokens = true) drops.
  bool IsSpecial(uint32_t id) const { return token_type(id) == TokenType::kControl; }

  virtual std::optional<uint32_t> bos_id() const = 0;
  virtual std::optional<uint32_t> eos_id() const = 0;
  virtual std::optional<uint32_t> unk_id() const = 0;
  virtual std::optional<uint32_t> pad_id() const = 0;

 protected:
  virtual absl::StatusOr<std::vector<uint32_t>> DoEncode(absl::string_view text,
                                                         bool add_special_tokens,
                                                         bool parse_special) const = 0;
  virtual std::string DoDecode(std::span<const uint32_t> ids, bool skip_special_tokens) const = 0;
};

}  // namespace trustformers::tokenizers
