// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata, read into a plain spec
// and built into a tokenizer: "gpt2" (byte-level BPE) as a BpeTokenizer, "llama" (SentencePiece)
// as a SentencePieceTokenizer. Other models are refused with UNIMPLEMENTED naming them.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "models/loader/gguf.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/bpe_vocab.h"
#include "tokenizers/causal_tokenizer.h"
#include "tokenizers/sentencepiece_tokenizer.h"

namespace trustformers::models {

// The keys, checked: INVALID_ARGUMENT naming the file and the key for missing or mistyped keys,
// token types and tokens of different lengths, unknown token types, special ids outside the
// vocabulary, add_bos/add_eos without the id, or an unknown tokenizer model; UNIMPLEMENTED for
// other models that llama.cpp knows ("bert", "t5", ...); FAILED_PRECONDITION for "llama" (read
// it with ReadGgufSentencePieceVocab). Missing optional
// keys take llama.cpp's defaults (pre-tokenizer "default"; add_bos as the pre-tokenizer implies).
absl::StatusOr<tokenizers::BpeVocab> ReadGgufBpeVocab(const GgufFile& file);

// A "llama" model's keys (tokens, scores, token types, special ids, add_bos_token, add_eos_token,
// add_space_prefix, remove_extra_whitespaces), checked like ReadGgufBpeVocab's. Missing keys take
// llama.cpp's defaults: BOS 1, EOS 2, unknown 0 (where the vocabulary has them), BOS added, a
// space prefix.
absl::StatusOr<tokenizers::SentencePieceVocab> ReadGgufSentencePieceVocab(const GgufFile& file);

// ReadGgufBpeVocab, then BpeTokenizer::FromVocab; errors name the file.
absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> LoadGgufBpeTokenizer(
    const GgufFile& file);
// ReadGgufSentencePieceVocab, then SentencePieceTokenizer::FromVocab; errors name the file.
absl::StatusOr<std::unique_ptr<tokenizers::SentencePieceTokenizer>> LoadGgufSentencePieceTokenizer(
    const GgufFile& file);
// Whichever of the two `tokenizer.ggml.model` names.
absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> LoadGgufTokenizer(
    const GgufFile& file);

}  // namespace trustformers::models
