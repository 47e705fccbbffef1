#include "tokenizers/sentencepiece_tokenizer.h"

#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/byte_level.h"
#include "tokenizers/json_fields.h"
#include "tokenizers/sentencepiece_backend.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

// .model files are a few MB at most (Gemma's 256k pieces: 4 MB).
constexpr uintmax_t kMaxModelBytes = 64u << 20;
constexpr absl::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"
// What libsentencepiece shows for the unknown piece.
constexpr absl::string_view kUnknownSurface = " \xE2\x81\x87 ";

std::optional<uint32_t> ReservedId(int id) {
  if (id < 0) return std::nullopt;
  return static_cast<uint32_t>(id);
}

absl::Status FromBackend(const sentencepiece_backend::Error& error, absl::string_view what) {
  // Whatever libsentencepiece refuses in a model is a problem of the input.
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", error.message));
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer() = default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromFile(
    const std::string& path, Options options) {
  absl::StatusOr<std::string> contents = ReadTokenizerFile(path, kMaxModelBytes);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      FromSerializedProto(*contents, options);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat("'", path, "': ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromSerializedProto(
    absl::string_view model, Options options) {
  absl::StatusOr<SentencePieceModelInfo> info = ParseModelProto(model);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer = Create(model, *info, options);
  if (!tokenizer.ok()) return tokenizer.status();
  if ((options.add_bos && !(*tokenizer)->bos_id_.has_value()) ||
      (options.add_eos && !(*tokenizer)->eos_id_.has_value())) {
    return absl::InvalidArgumentError(
        "the model has no BOS or EOS piece (<s>, </s>) for Options to add");
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromVocab(
    const SentencePieceVocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("the vocabulary has no tokens");
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("there are ", vocab.scores.size(), " scores for ", n, " tokens"));
  }
  if (!vocab.token_types.empty() && vocab.token_types.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("there are ", vocab.token_types.size(), " token types for ", n, " tokens"));
  }
  for (const auto& [name, id] :
       {std::pair{"BOS", vocab.bos_id}, std::pair{"EOS", vocab.eos_id},
        std::pair{"unknown token", vocab.unk_id}, std::pair{"padding", vocab.pad_id}}) {
    if (id.has_value() && *id >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " id ", *id, " is outside the vocabulary of ", n, " tokens"));
    }
  }
  if (vocab.add_bos && !vocab.bos_id.has_value()) {
    return absl::InvalidArgumentError("add_bos is set but there is no BOS id");
  }
  if (vocab.add_eos && !vocab.eos_id.has_value()) {
    return absl::InvalidArgumentError("add_eos is set but there is no EOS id");
  }
  bool has_unknown = vocab.unk_id.has_value();
  for (size_t id = 0; id < n; ++id) {
    if (absl::Status status = ValidateUtf8(vocab.tokens[id]); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("token ", id, ": ", status.message()));
    }
    if (!vocab.token_types.empty()) {
      const int32_t type = static_cast<int32_t>(vocab.token_types[id]);
      if (type < 1 || type > 6) {
        return absl::InvalidArgumentError(
            absl::StrCat("token ", id, " has the unknown type ", type));
      }
      has_unknown = has_unknown || vocab.token_types[id] == TokenType::kUnknown;
    }
  }
  if (!has_unknown) {
    return absl::InvalidArgumentError(
        "a SentencePiece vocabulary needs an unknown token (unknown_token_id or a token of type "
        "2)");
  }
  const std::string model = SerializeModelProto(vocab);
  absl::StatusOr<SentencePieceModelInfo> info = ParseModelProto(model);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      Create(model, *info, Options{vocab.add_bos, vocab.add_eos});
  if (!tokenizer.ok()) return tokenizer.status();
  // The vocabulary's own ids win over the reserved pieces libsentencepiece guesses by name.
  (*tokenizer)->bos_id_ = vocab.bos_id;
  (*tokenizer)->eos_id_ = vocab.eos_id;
  (*tokenizer)->unk_id_ = vocab.unk_id.has_value() ? vocab.unk_id : (*tokenizer)->unk_id_;
  (*tokenizer)->pad_id_ = vocab.pad_id;
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Create(
    absl::string_view model, const SentencePieceModelInfo& info, Options options) {
  sentencepiece_backend::Error error;
  std::unique_ptr<sentencepiece_backend::Processor> processor =
      sentencepiece_backend::Processor::Load(std::string_view(model.data(), model.size()), &error);
  if (processor == nullptr) return FromBackend(error, "libsentencepiece refused the model");
  if (static_cast<size_t>(processor->piece_size()) != info.pieces.size()) {
    return absl::InternalError("libsentencepiece and the model disagree on the piece count");
  }
  std::unique_ptr<SentencePieceTokenizer> tokenizer(new SentencePieceTokenizer());
  tokenizer->pieces_ = info.pieces;
  tokenizer->types_ = info.types;
  tokenizer->algorithm_ = info.algorithm;
  tokenizer->add_dummy_prefix_ = info.add_dummy_prefix;
  tokenizer->options_ = options;
  tokenizer->bos_id_ = ReservedId(processor->bos_id());
  tokenizer->eos_id_ = ReservedId(processor->eos_id());
  tokenizer->unk_id_ = ReservedId(processor->unk_id());
  tokenizer->pad_id_ = ReservedId(processor->pad_id());
  tokenizer->processor_ = std::move(processor);

  std::vector<AddedToken> controls;
  std::unordered_map<std::string, uint32_t> control_ids;
  tokenizer->token_bytes_.resize(info.pieces.size());
  for (size_t id = 0; id < info.pieces.size(); ++id) {
    const std::string& piece = info.pieces[id];
    tokenizer->ids_.try_emplace(piece, static_cast<uint32_t>(id));
    std::string& bytes = tokenizer->token_bytes_[id];
    switch (info.types[id]) {
      case TokenType::kControl:
        bytes = piece;
        if (!piece.empty()) {
          AddedToken control;
          control.content = piece;
          control.special = true;
          control.normalized = false;
          controls.push_back(std::move(control));
          control_ids[piece] = static_cast<uint32_t>(id);
        }
        break;
      case TokenType::kUnknown:
        bytes = std::string(kUnknownSurface);
        break;
      case TokenType::kByte:
        if (std::optional<uint8_t> byte = ByteTokenValue(piece)) {
          bytes.push_back(static_cast<char>(*byte));
          break;
        }
        [[fallthrough]];
      default:
        bytes = absl::StrReplaceAll(piece, {{kSpaceSymbol, " "}});
    }
  }
  tokenizer->controls_ = std::make_unique<AddedVocabulary>(
      std::move(controls),
      [&control_ids](absl::string_view token) -> std::optional<uint32_t> {
        auto it = control_ids.find(std::string(token));
        if (it == control_ids.end()) return std::nullopt;
        return it->second;
      },
      info.pieces.size(), [](absl::string_view content) { return std::string(content); });
  return tokenizer;
}

absl::Status SentencePieceTokenizer::EncodeText(absl::string_view text,
                                                std::vector<uint32_t>* ids) const {
  std::vector<int> pieces;
  sentencepiece_backend::Error error;
  if (!processor_->Encode(std::string_view(text.data(), text.size()), &pieces, &error)) {
    return FromBackend(error, "SentencePiece could not encode the text");
  }
  for (int id : pieces) ids->push_back(static_cast<uint32_t>(id));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> SentencePieceTokenizer::DoEncode(absl::string_view text,
                                                                       bool add_special_tokens,
                                                                       bool parse_special) const {
  if (absl::Status status = ValidateUtf8(text); !status.ok()) return status;
  std::vector<uint32_t> ids;
  if (add_special_tokens && options_.add_bos) ids.push_back(*bos_id_);
  size_t done = 0;
  if (parse_special) {
    for (const AddedVocabulary::Match& match :
         controls_->FindMatches(text, /*normalized=*/false, /*include_special=*/true)) {
      if (done < match.begin) {
        absl::Status status = EncodeText(text.substr(done, match.begin - done), &ids);
        if (!status.ok()) return status;
      }
      ids.push_back(match.id);
      done = match.end;
    }
  }
  if (done < text.size()) {
    if (absl::Status status = EncodeText(text.substr(done), &ids); !status.ok()) return status;
  }
  if (add_special_tokens && options_.add_eos) ids.push_back(*eos_id_);
  return ids;
}

std::string SentencePieceTokenizer::DoDecode(std::span<const uint32_t> ids,
                                             bool skip_special_tokens) const {
  std::vector<int> valid;
  valid.reserve(ids.size());
  for (uint32_t id : ids) {
    if (id < pieces_.size()) valid.push_back(static_cast<int>(id));
  }
  if (skip_special_tokens) return processor_->Decode(valid);
  // Runs of non-control ids decoded by libsentencepiece, control tokens' text between them. Only
  // the text's very first piece loses its dummy-prefix space, as in one libsentencepiece call.
  std::string text;
  std::vector<int> run;
  bool first_run = true;
  auto flush = [&] {
    if (run.empty()) return;
    std::string decoded = processor_->Decode(run);
    if (!first_run && add_dummy_prefix_ &&
        absl::string_view(pieces_[run.front()]).substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
      decoded.insert(0, " ");
    }
    text += decoded;
    first_run = false;
    run.clear();
  };
  for (int id : valid) {
    if (types_[id] == TokenType::kControl) {
      flush();
      text += pieces_[id];
    } else {
      run.push_back(id);
    }
  }
  flush();
  return text;
}

absl::string_view SentencePieceTokenizer::TokenBytes(uint32_t id) const {
  if (id >= token_bytes_.size()) return {};
  return token_bytes_[id];
}

std::optional<uint32_t> SentencePieceTokenizer::TokenToId(absl::string_view token) const {
  auto it = ids_.find(std::string_view(token.data(), token.size()));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* SentencePieceTokenizer::IdToToken(uint32_t id) const {
  return id < pieces_.size() ? &pieces_[id] : nullptr;
}

TokenType SentencePieceTokenizer::token_type(uint32_t id) const {
  return id < types_.size() ? types_[id] : TokenType::kUnused;
}

}  // namespace trustformers::tokenizers
