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

}  // namespace

absl::StatusOr<BpeVocab> ReadGgufBpeVocab(const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const std::string model, file.GetString("tokenizer.ggml.model"));
  if (model != "gpt2") {
    for (const char* known : {"llama", "bert", "t5", "rwkv", "plamo2", "no_vocab", "none"}) {
      if (model == known) {
        return absl::UnimplementedError(absl::StrCat(
            "GGUF file '", file.path(), "': tokenizer model '", model,
            "' is not supported (supported: gpt2, the byte-level BPE of GPT-2, Llama 3, Qwen2, "
            "SmolLM2, ...)"));
      }
    }
    return Invalid(file, absl::StrCat("tokenizer.ggml.model '", model,
                                      "' is not a tokenizer model GGUF defines"));
  }

  BpeVocab vocab;
  TF_ASSIGN_OR_RETURN(vocab.tokens, file.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = vocab.tokens.size();
  if (n == 0) return Invalid(file, "tokenizer.ggml.tokens is empty");
  if (file.FindValue("tokenizer.ggml.token_type") != nullptr) {
    TF_ASSIGN_OR_RETURN(const std::vector<int32_t> types,
                        file.GetI32Array("tokenizer.ggml.token_type"));
    if (types.size() != n) {
      return Invalid(file, absl::StrCat("tokenizer.ggml.token_type has ", types.size(),
                                        " entries for ", n, " tokens"));
    }
    vocab.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < static_cast<int32_t>(TokenType::kNormal) ||
          types[i] > static_cast<int32_t>(TokenType::kByte)) {
        return Invalid(file, absl::StrCat("tokenizer.ggml.token_type[", i, "] is ", types[i],
                                          ", not a token type (1 to 6)"));
      }
      vocab.token_types.push_back(static_cast<TokenType>(types[i]));
    }
  }
  TF_ASSIGN_OR_RETURN(vocab.merges, file.GetStringArray("tokenizer.ggml.merges"));
  if (file.FindValue("tokenizer.ggml.pre") != nullptr) {
    TF_ASSIGN_OR_RETURN(vocab.pre_tokenizer, file.GetString("tokenizer.ggml.pre"));
  }

  const std::pair<const char*, std::optional<uint32_t>*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &vocab.bos_id},
      {"tokenizer.ggml.eos_token_id", &vocab.eos_id},
      {"tokenizer.ggml.unknown_token_id", &vocab.unk_id},
      {"tokenizer.ggml.padding_token_id", &vocab.pad_id},
  };
  for (const auto& [key, id] : ids) {
    TF_ASSIGN_OR_RETURN(*id, OptionalId(file, key));
    if (id->has_value() && **id >= n) {
      return Invalid(file,
                     absl::StrCat(key, " is ", **id, ", outside the vocabulary of ", n, " tokens"));
    }
  }
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

absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> LoadGgufTokenizer(const GgufFile& file) {
  TF_ASSIGN_OR_RETURN(const BpeVocab vocab, ReadGgufBpeVocab(file));
  absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> tokenizer =
      tokenizers::BpeTokenizer::FromVocab(vocab);
  if (!tokenizer.ok()) {
    return absl::Status(
        tokenizer.status().code(),
        absl::StrCat("GGUF file '", file.path(), "' tokenizer: ", tokenizer.status().message()));
  }
  return tokenizer;
}

}  // namespace trustformers::models
