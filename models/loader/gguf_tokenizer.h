// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata, read into a BpeVocab and
// built into a tokenizer. Supports the "gpt2" model (byte-level BPE); other models are refused
// with UNIMPLEMENTED naming them.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/loader/gguf.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/bpe_vocab.h"

namespace trustformers::models {

// The keys, checked: INVALID_ARGUMENT naming the file and the key for missing or mistyped keys,
// token types and tokens of different lengths, unknown token types, special ids outside the
// vocabulary, add_bos/add_eos without the id, or an unknown tokenizer model; UNIMPLEMENTED for
// models other than "gpt2" that llama.cpp knows ("llama", "bert", "t5", ...). Missing optional
// keys take llama.cpp's defaults (pre-tokenizer "default"; add_bos as the pre-tokenizer implies).
absl::StatusOr<tokenizers::BpeVocab> ReadGgufBpeVocab(const GgufFile& file);

// ReadGgufBpeVocab, then BpeTokenizer::FromVocab; errors name the file.
absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> LoadGgufTokenizer(const GgufFile& file);

}  // namespace trustformers::models
