// What a byte-level BPE tokenizer is made of, in the shape GGUF stores it (the
// `tokenizer.ggml.*` keys of a "gpt2" model): the tokens by id with their types, the merges in
// rank order, the pre-tokenizer's name and the special ids. A plain struct, filled by the GGUF
// loader (models/loader/gguf_tokenizer.h) or by hand in tests, and turned into a tokenizer by
// BpeTokenizer::FromVocab, which checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizers/causal_tokenizer.h"

namespace trustformers::tokenizers {

struct BpeVocab {
  // Token strings by id, in the byte-level alphabet (a space is "Ġ").
  std::vector<std::string> tokens;
  // Parallel to `tokens`; empty means every token is normal.
  std::vector<TokenType> token_types;
  // "left right" pairs, highest priority first.
  std::vector<std::string> merges;
  // A GGUF `tokenizer.ggml.pre` name (see tokenizers/gguf_pre_tokenizers.h).
  std::string pre_tokenizer = "default";
  std::optional<uint32_t> bos_id;
  std::optional<uint32_t> eos_id;
  std::optional<uint32_t> unk_id;
  std::optional<uint32_t> pad_id;
  // Encode(add_special_tokens = true) puts BOS before and EOS after the text.
  bool add_bos = false;
  bool add_eos = false;
  // Take a piece that is itself a token whole, before merging; unset: as the pre-tokenizer's
  // name implies.
  std::optional<bool> ignore_merges;
};

}  // namespace trustformers::tokenizers
