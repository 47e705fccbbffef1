#include "models/loader/gguf_tokenizer.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"
#include "tokenizers/gguf_pre_tokenizers.h"

namespace trustformers::models {
namespace {

using tokenizers::BpeVocab;
using tokenizers::TokenType;

absl::Status Invalid(const GgufFile& file, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("GGUF file '", file.path(), "': ", message));
}

// An id key, when present.
absl::StatusOr<std::optional<uint32_t>> OptionalId(const GgufFile& file, const char* key) {
  if (file.FindValue(key) == nullptr) return std::optional<uint32_t>();
  TF_ASSIGN_OR_RETURN(const uint32_t id, file.GetU32(key));
  return std::optional<uint32_t>(id);
}

absl::StatusOr<std::optional<bool>> OptionalBool(const GgufFile& file, const char* key) {
  if (file.FindValue(key) == nullptr) return std::optional<bool>();
  TF_ASSIGN_OR_RETURN(const bool value, file.GetBool(key));
  return std::optional<bool>(value);
}

// The model name: "gpt2" or "llama"; errors for the others.
absl::StatusOr<std::string> TokenizerModel(const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(std::string model, file.GetString("tokenizer.ggml.model"));
  if (model == "gpt2" || model == "llama") return model;
  for (const char* known : {"bert", "t5", "rwkv", "plamo2", "no_vocab", "none"}) {
    if (model == known) {
      return absl::UnimplementedError(absl::StrCat(
          "GGUF file '", file.path(), "': tokenizer model '", model,
          "' is not supported (supported: gpt2, the byte-level BPE of GPT-2, Llama 3, Qwen2, "
          "SmolLM2, ...; llama, the SentencePiece of Llama 2, Mistral, ...)"));
    }
  }
  return Invalid(file, absl::StrCat("tokenizer.ggml.model '", model,
                                    "' is not a tokenizer model GGUF defines"));
}

// tokenizer.ggml.tokens and, when present, tokenizer.ggml.token_type, checked.
absl::Status ReadTokens(const GgufFile& file, std::vector<std::string>* tokens,
                        std::vector<TokenType>* types) {
  TF_ASSIGN_OR_RETURN(*tokens, file.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = tokens->size();
  if (n == 0) return Invalid(file, "tokenizer.ggml.tokens is empty");
  if (file.FindValue("tokenizer.ggml.token_type") == nullptr) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(const std::vector<int32_t> values,
                      file.GetI32Array("tokenizer.ggml.token_type"));
  if (values.size() != n) {
    return Invalid(file, absl::StrCat("tokenizer.ggml.token_type has ", values.size(),
                                      " entries for ", n, " tokens"));
  }
  types->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (values[i] < static_cast<int32_t>(TokenType::kNormal) ||
        values[i] > static_cast<int32_t>(TokenType::kByte)) {
      return Invalid(file, absl::StrCat("tokenizer.ggml.token_type[", i, "] is ", values[i],
                                        ", not a token type (1 to 6)"));
    }
    types->push_back(static_cast<TokenType>(values[i]));
  }
  return absl::OkStatus();
}

// The special ids, each checked against the vocabulary size `n`.
absl::Status ReadSpecialIds(const GgufFile& file, size_t n, std::optional<uint32_t>* bos,
                            std::optional<uint32_t>* eos, std::optional<uint32_t>* unk,
                            std::optional<uint32_t>* pad) {
  const std::pair<const char*, std::optional<uint32_t>*> ids[] = {
      {"tokenizer.ggml.bos_token_id", bos},
      {"tokenizer.ggml.eos_token_id", eos},
      {"tokenizer.ggml.unknown_token_id", unk},
      {"tokenizer.ggml.padding_token_id", pad},
  };
  for (const auto& [key, id] : ids) {
    TF_ASSIGN_OR_RETURN(const std::optional<uint32_t> value, OptionalId(file, key));
    if (!value.has_value()) continue;
    if (*value >= n) {
      return Invalid(
          file, absl::StrCat(key, " is ", *value, ", outside the vocabulary of ", n, " tokens"));
    }
    *id = value;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BpeVocab> ReadGgufBpeVocab(const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const std::string model, TokenizerModel(file));
  if (model != "gpt2") {
    return absl::FailedPreconditionError(absl::StrCat("GGUF file '", file.path(),
                                                      "': tokenizer model '", model,
                                                      "' is SentencePiece, not byte-level BPE"));
  }
  BpeVocab vocab;
  TF_RETURN_IF_ERROR(ReadTokens(file, &vocab.tokens, &vocab.token_types));
  const size_t n = vocab.tokens.size();
  TF_ASSIGN_OR_RETURN(vocab.merges, file.GetStringArray("tokenizer.ggml.merges"));
  if (file.FindValue("tokenizer.ggml.pre") != nullptr) {
    TF_ASSIGN_OR_RETURN(vocab.pre_tokenizer, file.GetString("tokenizer.ggml.pre"));
  }

  TF_RETURN_IF_ERROR(
      ReadSpecialIds(file, n, &vocab.bos_id, &vocab.eos_id, &vocab.unk_id, &vocab.pad_id));
  TF_ASSIGN_OR_RETURN(const std::optional<bool> add_bos,
                      OptionalBool(file, "tokenizer.ggml.add_bos_token"));
  TF_ASSIGN_OR_RETURN(const std::optional<bool> add_eos,
                      OptionalBool(file, "tokenizer.ggml.add_eos_token"));
  const tokenizers::GgufPreTokenizerPreset* preset =
      tokenizers::FindGgufPreTokenizer(vocab.pre_tokenizer);
  vocab.add_bos = add_bos.value_or(preset != nullptr && preset->add_bos);
  vocab.add_eos = add_eos.value_or(false);
  if (vocab.add_bos && !vocab.bos_id.has_value()) {
    return Invalid(file, "tokenizer.ggml.add_bos_token is true but there is no bos_token_id");
  }
  if (vocab.add_eos && !vocab.eos_id.has_value()) {
    return Invalid(file, "tokenizer.ggml.add_eos_token is true but there is no eos_token_id");
  }
  return vocab;
}

absl::StatusOr<tokenizers::SentencePieceVocab> ReadGgufSentencePieceVocab(const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const std::string model, TokenizerModel(file));
  if (model != "llama") {
    return absl::FailedPreconditionError(absl::StrCat("GGUF file '", file.path(),
                                                      "': tokenizer model '", model,
                                                      "' is byte-level BPE, not SentencePiece"));
  }
  tokenizers::SentencePieceVocab vocab;
  TF_RETURN_IF_ERROR(ReadTokens(file, &vocab.tokens, &vocab.token_types));
  const size_t n = vocab.tokens.size();
  if (file.FindValue("tokenizer.ggml.scores") != nullptr) {
    TF_ASSIGN_OR_RETURN(vocab.scores, file.GetF32Array("tokenizer.ggml.scores"));
    if (vocab.scores.size() != n) {
      return Invalid(file, absl::StrCat("tokenizer.ggml.scores has ", vocab.scores.size(),
                                        " entries for ", n, " tokens"));
    }
  }
  // llama.cpp's defaults for Llama-style vocabularies, where they fit.
  if (n > 1) vocab.bos_id = 1;
  if (n > 2) vocab.eos_id = 2;
  vocab.unk_id = 0;
  TF_RETURN_IF_ERROR(
      ReadSpecialIds(file, n, &vocab.bos_id, &vocab.eos_id, &vocab.unk_id, &vocab.pad_id));
  const std::pair<const char*, bool*> flags[] = {
      {"tokenizer.ggml.add_bos_token", &vocab.add_bos},
      {"tokenizer.ggml.add_eos_token", &vocab.add_eos},
      {"tokenizer.ggml.add_space_prefix", &vocab.add_space_prefix},
      {"tokenizer.ggml.remove_extra_whitespaces", &vocab.remove_extra_whitespaces},
  };
  for (const auto& [key, flag] : flags) {
    TF_ASSIGN_OR_RETURN(const std::optional<bool> value, OptionalBool(file, key));
    if (value.has_value()) *flag = *value;
  }
  if (vocab.add_bos && !vocab.bos_id.has_value()) {
    return Invalid(file, "tokenizer.ggml.add_bos_token is true but there is no bos_token_id");
  }
  if (vocab.add_eos && !vocab.eos_id.has_value()) {
    return Invalid(file, "tokenizer.ggml.add_eos_token is true but there is no eos_token_id");
  }
  return vocab;
}

namespace {

template <typename T>
absl::StatusOr<std::unique_ptr<T>> NameFile(const GgufFile& file,
                                            absl::StatusOr<std::unique_ptr<T>> tokenizer) {
  if (tokenizer.ok()) return tokenizer;
  return absl::Status(
      tokenizer.status().code(),
      absl::StrCat("GGUF file '", file.path(), "' tokenizer: ", tokenizer.status().message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> LoadGgufBpeTokenizer(
    const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const BpeVocab vocab, ReadGgufBpeVocab(file));
  return NameFile(file, tokenizers::BpeTokenizer::FromVocab(vocab));
}

absl::StatusOr<std::unique_ptr<tokenizers::SentencePieceTokenizer>> LoadGgufSentencePieceTokenizer(
    const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const tokenizers::SentencePieceVocab vocab, ReadGgufSentencePieceVocab(file));
  return NameFile(file, tokenizers::SentencePieceTokenizer::FromVocab(vocab));
}

absl::StatusOr<std::unique_ptr<tokenizers::CausalTokenizer>> LoadGgufTokenizer(
    const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const std::string model, TokenizerModel(file));
  if (model == "llama") {
    TF_ASSIGN_OR_RETURN(std::unique_ptr<tokenizers::CausalTokenizer> tokenizer,
                        LoadGgufSentencePieceTokenizer(file));
    return tokenizer;
  }
  TF_ASSIGN_OR_RETURN(std::unique_ptr<tokenizers::CausalTokenizer> tokenizer,
                      LoadGgufBpeTokenizer(file));
  return tokenizer;
}

}  // namespace trustformers::models
