#include "tokenizers/bpe_tokenizer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/bpe_model.h"
#include "tokenizers/byte_level.h"
#include "tokenizers/gguf_pre_tokenizers.h"
#include "tokenizers/unicode.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

bool IsKnownType(TokenType type) {
  const int32_t value = static_cast<int32_t>(type);
  return value >= static_cast<int32_t>(TokenType::kNormal) &&
         value <= static_cast<int32_t>(TokenType::kByte);
}

absl::Status CheckId(const char* name, const std::optional<uint32_t>& id, size_t vocab_size) {
  if (id.has_value() && *id >= vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " id ", *id, " is outside the vocabulary of ", vocab_size, " tokens"));
  }
  return absl::OkStatus();
}

}  // namespace

BpeTokenizer::BpeTokenizer() = default;
BpeTokenizer::~BpeTokenizer() = default;

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromVocab(const BpeVocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("the vocabulary has no tokens");
  if (!vocab.token_types.empty() && vocab.token_types.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("there are ", vocab.token_types.size(), " token types for ", n, " tokens"));
  }
  std::unique_ptr<BpeTokenizer> tokenizer(new BpeTokenizer());
  tokenizer->tokens_ = vocab.tokens;
  tokenizer->types_ =
      vocab.token_types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : vocab.token_types;
  BpeModel::Vocab model_vocab;
  model_vocab.reserve(n);
  std::vector<AddedToken> added;
  BpeModel::Vocab added_ids;
  for (size_t id = 0; id < n; ++id) {
    const std::string& token = vocab.tokens[id];
    if (absl::Status status = ValidateUtf8(token); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("token ", id, ": ", status.message()));
    }
    const TokenType type = tokenizer->types_[id];
    if (!IsKnownType(type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", id, " ('", token, "') has the unknown type ", static_cast<int32_t>(type)));
    }
    // Where a string repeats, the last id wins, as in llama.cpp.
    model_vocab.insert_or_assign(token, static_cast<uint32_t>(id));
    if (type == TokenType::kControl || type == TokenType::kUnknown ||
        type == TokenType::kUserDefined) {
      AddedToken entry;
      entry.content = token;
      entry.special = type != TokenType::kUserDefined;
      entry.normalized = false;
      added.push_back(std::move(entry));
      added_ids.insert_or_assign(token, static_cast<uint32_t>(id));
    }
  }
  for (const auto& [name, id] :
       {std::pair{"BOS", vocab.bos_id}, std::pair{"EOS", vocab.eos_id},
        std::pair{"unknown token", vocab.unk_id}, std::pair{"padding", vocab.pad_id}}) {
    if (absl::Status status = CheckId(name, id, n); !status.ok()) return status;
  }
  if (vocab.add_bos && !vocab.bos_id.has_value()) {
    return absl::InvalidArgumentError("add_bos is set but there is no BOS id");
  }
  if (vocab.add_eos && !vocab.eos_id.has_value()) {
    return absl::InvalidArgumentError("add_eos is set but there is no EOS id");
  }

  absl::StatusOr<PreTokenizer> pre_tokenizer = PreTokenizer::ForGgufName(vocab.pre_tokenizer);
  if (!pre_tokenizer.ok()) return pre_tokenizer.status();
  tokenizer->pre_tokenizer_ = *std::move(pre_tokenizer);

  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(vocab.merges.size());
  for (size_t i = 0; i < vocab.merges.size(); ++i) {
    const std::string& merge = vocab.merges[i];
    // From the second byte: a merge's left part is never empty, and may itself be a space.
    const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("merge ", i, " ('", merge, "') is not two tokens separated by a space"));
    }
    merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
  }
  BpeModel::Options options;
  const GgufPreTokenizerPreset* preset = FindGgufPreTokenizer(vocab.pre_tokenizer);
  options.ignore_merges = vocab.ignore_merges.value_or(preset != nullptr && preset->ignore_merges);
  absl::StatusOr<std::unique_ptr<BpeModel>> model =
      BpeModel::Create(std::move(model_vocab), merges, std::move(options));
  if (!model.ok()) return model.status();
  tokenizer->model_ = *std::move(model);

  tokenizer->added_ = std::make_unique<AddedVocabulary>(
      std::move(added),
      [&added_ids](absl::string_view token) -> std::optional<uint32_t> {
        auto it = added_ids.find(std::string_view(token.data(), token.size()));
        if (it == added_ids.end()) return std::nullopt;
        return it->second;
      },
      n, [](absl::string_view content) { return std::string(content); });

  tokenizer->bos_id_ = vocab.bos_id;
  tokenizer->eos_id_ = vocab.eos_id;
  tokenizer->unk_id_ = vocab.unk_id;
  tokenizer->pad_id_ = vocab.pad_id;
  if (vocab.add_bos) tokenizer->prefix_ids_.push_back(*vocab.bos_id);
  if (vocab.add_eos) tokenizer->suffix_ids_.push_back(*vocab.eos_id);
  tokenizer->Finish(/*byte_level_decoder=*/true, /*decode_added_tokens=*/false);
  return tokenizer;
}

void BpeTokenizer::Finish(bool byte_level_decoder, bool decode_added_tokens) {
  token_bytes_.assign(tokens_.size(), std::string());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string& token = tokens_[id];
    std::string& bytes = token_bytes_[id];
    const TokenType type = types_[id];
    if (type == TokenType::kByte) {
      if (std::optional<uint8_t> byte = ByteTokenValue(token)) {
        bytes.push_back(static_cast<char>(*byte));
        continue;
      }
    }
    // Control and user-defined tokens of a GGUF file are plain text (as llama.cpp prints them);
    // Hugging Face passes tokenizer.json's added tokens through the decoder like any other.
    const bool added = type == TokenType::kControl || type == TokenType::kUserDefined ||
                       type == TokenType::kUnknown;
    const bool decode = byte_level_decoder && (!added || decode_added_tokens);
    // A token with a character outside the byte-level alphabet stands for its own UTF-8, as
    // Hugging Face's ByteLevel decoder treats it.
    if (!decode || !AppendByteLevelDecoded(token, &bytes)) bytes = token;
  }
}

absl::StatusOr<std::vector<uint32_t>> BpeTokenizer::DoEncode(absl::string_view text,
                                                             bool add_special_tokens,
                                                             bool parse_special) const {
  if (absl::Status status = ValidateUtf8(text); !status.ok()) return status;
  std::vector<uint32_t> ids;
  if (add_special_tokens) ids = prefix_ids_;
  size_t done = 0;
  for (const AddedVocabulary::Match& match :
       added_->FindMatches(text, /*normalized=*/false, parse_special)) {
    if (done < match.begin) {
      absl::Status status =
          EncodeSegment(text.substr(done, match.begin - done), parse_special, &ids);
      if (!status.ok()) return status;
    }
    ids.push_back(match.id);
    done = match.end;
  }
  if (done < text.size()) {
    if (absl::Status status = EncodeSegment(text.substr(done), parse_special, &ids); !status.ok()) {
      return status;
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

absl::Status BpeTokenizer::EncodeSegment(absl::string_view text, bool parse_special,
                                         std::vector<uint32_t>* ids) const {
  std::string normalized_storage;
  if (nfc_) {
    normalized_storage = NfcNormalize(text);
    text = normalized_storage;
  }
  size_t done = 0;
  for (const AddedVocabulary::Match& match :
       added_->FindMatches(text, /*normalized=*/true, parse_special)) {
    if (done < match.begin) {
      absl::Status status = EncodePlain(text.substr(done, match.begin - done), ids);
      if (!status.ok()) return status;
    }
    ids->push_back(match.id);
    done = match.end;
  }
  if (done < text.size()) return EncodePlain(text.substr(done), ids);
  return absl::OkStatus();
}

absl::Status BpeTokenizer::EncodePlain(absl::string_view text, std::vector<uint32_t>* ids) const {
  std::vector<std::string> pieces;
  if (absl::Status status = pre_tokenizer_.Split(text, &pieces); !status.ok()) return status;
  for (const std::string& piece : pieces) model_->Tokenize(piece, ids);
  return absl::OkStatus();
}

absl::string_view BpeTokenizer::TokenBytes(uint32_t id) const {
  if (id >= token_bytes_.size()) return {};
  return token_bytes_[id];
}

std::string BpeTokenizer::DoDecode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (uint32_t id : ids) {
    if (id >= token_bytes_.size()) continue;
    if (skip_special_tokens && IsSpecial(id)) continue;
    bytes.append(token_bytes_[id]);
  }
  std::string text;
  text.reserve(bytes.size());
  AppendUtf8Lossy(bytes, &text);
  return text;
}

std::optional<uint32_t> BpeTokenizer::TokenToId(absl::string_view token) const {
  if (std::optional<uint32_t> id = added_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

const std::string* BpeTokenizer::IdToToken(uint32_t id) const {
  if (id >= tokens_.size()) return nullptr;
  if (types_[id] == TokenType::kUnused && tokens_[id].empty()) return nullptr;
  return &tokens_[id];
}

TokenType BpeTokenizer::token_type(uint32_t id) const {
  return id < types_.size() ? types_[id] : TokenType::kUnused;
}

}  // namespace trustformers::tokenizers
