// SentencePiece's ModelProto (a .model file) without protobuf: the pieces, scores and types, and
// the few settings a tokenizer needs, read from and written to the protobuf wire format by hand.
// Writing it lets a GGUF file's "llama" vocabulary (tokens, scores, token types) run through
// libsentencepiece; reading it gives the token types libsentencepiece's API does not expose. The
// reader is bounds-checked: a .model file is untrusted input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/causal_tokenizer.h"

namespace trustformers::tokenizers {

// SentencePiece's segmentation algorithms (TrainerSpec.ModelType).
enum class SentencePieceAlgorithm : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SentencePieceVocab {
  // Pieces by id, with "▁" (U+2581) for spaces.
  std::vector<std::string> tokens;
  // Parallel to `tokens`; empty means all 0.
  std::vector<float> scores;
  // Parallel to `tokens`; empty means every piece is normal.
  std::vector<TokenType> token_types;
  // A GGUF "llama" vocabulary is merged by score, which is SentencePiece's BPE.
  SentencePieceAlgorithm algorithm = SentencePieceAlgorithm::kBpe;
  std::optional<uint32_t> bos_id;
  std::optional<uint32_t> eos_id;
  std::optional<uint32_t> unk_id;
  std::optional<uint32_t> pad_id;
  // Encode(add_special_tokens = true) puts BOS before and EOS after the text.
  bool add_bos = true;
  bool add_eos = false;
  // A "▁" before the text, as SentencePiece's add_dummy_prefix.
  bool add_space_prefix = true;
  bool remove_extra_whitespaces = false;
};

// What ParseModelProto reads of a .model file.
struct SentencePieceModelInfo {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  SentencePieceAlgorithm algorithm = SentencePieceAlgorithm::kUnigram;
  bool byte_fallback = false;
  bool add_dummy_prefix = true;
};

// INVALID_ARGUMENT when the bytes are not a well-formed ModelProto.
absl::StatusOr<SentencePieceModelInfo> ParseModelProto(absl::string_view bytes);

// A ModelProto for `vocab`: identity normalisation, byte fallback when there are byte pieces, the
// unknown id's piece typed UNKNOWN. The caller checks the vocabulary (see
// SentencePieceTokenizer::FromVocab).
std::string SerializeModelProto(const SentencePieceVocab& vocab);

}  // namespace trustformers::tokenizers
