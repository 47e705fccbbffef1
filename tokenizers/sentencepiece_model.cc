#include "tokenizers/sentencepiece_model.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::tokenizers {
namespace {

// Field numbers of sentencepiece_model.proto.
constexpr uint32_t kModelPieces = 1;
constexpr uint32_t kModelTrainerSpec = 2;
constexpr uint32_t kModelNormalizerSpec = 3;
constexpr uint32_t kPiecePiece = 1;
constexpr uint32_t kPieceScore = 2;
constexpr uint32_t kPieceType = 3;
constexpr uint32_t kTrainerModelType = 3;
constexpr uint32_t kTrainerByteFallback = 35;
constexpr uint32_t kNormalizerName = 1;
constexpr uint32_t kNormalizerAddDummyPrefix = 3;
constexpr uint32_t kNormalizerRemoveExtraWhitespaces = 4;
constexpr uint32_t kNormalizerEscapeWhitespaces = 5;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one protobuf message's fields in order, bounds-checked.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}

  bool done() const { return pos_ >= bytes_.size(); }

  // The next field's number and wire type; false on malformed input.
  bool NextField(uint32_t* number, uint32_t* wire_type) {
    uint64_t key = 0;
    if (!Varint(&key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) return false;
    *number = static_cast<uint32_t>(key >> 3);
    *wire_type = static_cast<uint32_t>(key & 7);
    return true;
  }

  bool Varint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const uint8_t byte = static_cast<uint8_t>(bytes_[pos_++]);
      *value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  bool LengthDelimited(absl::string_view* value) {
    uint64_t length = 0;
    if (!Varint(&length) || length > bytes_.size() - pos_) return false;
    *value = bytes_.substr(pos_, length);
    pos_ += length;
    return true;
  }

  bool Fixed32(uint32_t* value) {
    if (bytes_.size() - pos_ < 4) return false;
    std::memcpy(value, bytes_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }

  // Skips a field of `wire_type` that is not needed.
  bool Skip(uint32_t wire_type) {
    uint64_t ignored = 0;
    absl::string_view ignored_bytes;
    uint32_t ignored_32 = 0;
    switch (wire_type) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        if (bytes_.size() - pos_ < 8) return false;
        pos_ += 8;
        return true;
      case kLengthDelimited:
        return LengthDelimited(&ignored_bytes);
      case kFixed32:
        return Fixed32(&ignored_32);
      default:  // groups are not used by this proto
        return false;
    }
  }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Malformed(absl::string_view where) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a SentencePiece model: malformed protobuf in ", where));
}

// Writes protobuf fields.
class Writer {
 public:
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  void Key(uint32_t number, WireType type) { Varint((static_cast<uint64_t>(number) << 3) | type); }
  void VarintField(uint32_t number, uint64_t value) {
    Key(number, kVarint);
    Varint(value);
  }
  void BytesField(uint32_t number, absl::string_view value) {
    Key(number, kLengthDelimited);
    Varint(value.size());
    out_.append(value.data(), value.size());
  }
  void FloatField(uint32_t number, float value) {
    Key(number, kFixed32);
    char bytes[4];
    std::memcpy(bytes, &value, 4);
    out_.append(bytes, 4);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

absl::Status ParsePiece(absl::string_view bytes, SentencePieceModelInfo* info) {
  Reader reader(bytes);
  std::string piece;
  float score = 0;
  TokenType type = TokenType::kNormal;
  while (!reader.done()) {
    uint32_t number = 0;
    uint32_t wire = 0;
    if (!reader.NextField(&number, &wire)) return Malformed("a piece");
    if (number == kPiecePiece && wire == kLengthDelimited) {
      absl::string_view value;
      if (!reader.LengthDelimited(&value)) return Malformed("a piece's text");
      piece.assign(value.data(), value.size());
    } else if (number == kPieceScore && wire == kFixed32) {
      uint32_t raw = 0;
      if (!reader.Fixed32(&raw)) return Malformed("a piece's score");
      std::memcpy(&score, &raw, 4);
    } else if (number == kPieceType && wire == kVarint) {
      uint64_t value = 0;
      if (!reader.Varint(&value)) return Malformed("a piece's type");
      if (value < 1 || value > 6) {
        return absl::InvalidArgumentError(absl::StrCat("not a SentencePiece model: piece ",
                                                       info->pieces.size(),
                                                       " has the unknown type ", value));
      }
      type = static_cast<TokenType>(value);
    } else if (!reader.Skip(wire)) {
      return Malformed("a piece");
    }
  }
  info->pieces.push_back(std::move(piece));
  info->scores.push_back(score);
  info->types.push_back(type);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SentencePieceModelInfo> ParseModelProto(absl::string_view bytes) {
  SentencePieceModelInfo info;
  Reader reader(bytes);
  while (!reader.done()) {
    uint32_t number = 0;
    uint32_t wire = 0;
    if (!reader.NextField(&number, &wire)) return Malformed("the model");
    if (wire != kLengthDelimited ||
        (number != kModelPieces && number != kModelTrainerSpec && number != kModelNormalizerSpec)) {
      if (!reader.Skip(wire)) return Malformed("the model");
      continue;
    }
    absl::string_view message;
    if (!reader.LengthDelimited(&message)) return Malformed("the model");
    if (number == kModelPieces) {
      if (absl::Status status = ParsePiece(message, &info); !status.ok()) return status;
      continue;
    }
    Reader inner(message);
    while (!inner.done()) {
      uint32_t field = 0;
      uint32_t field_wire = 0;
      if (!inner.NextField(&field, &field_wire)) return Malformed("a spec");
      uint64_t value = 0;
      const bool wanted = field_wire == kVarint &&
                          ((number == kModelTrainerSpec &&
                            (field == kTrainerModelType || field == kTrainerByteFallback)) ||
                           (number == kModelNormalizerSpec && field == kNormalizerAddDummyPrefix));
      if (!wanted) {
        if (!inner.Skip(field_wire)) return Malformed("a spec");
        continue;
      }
      if (!inner.Varint(&value)) return Malformed("a spec");
      if (number == kModelTrainerSpec && field == kTrainerModelType) {
        if (value < 1 || value > 4) {
          return absl::InvalidArgumentError(
              absl::StrCat("not a SentencePiece model: unknown model type ", value));
        }
        info.algorithm = static_cast<SentencePieceAlgorithm>(value);
      } else if (number == kModelTrainerSpec) {
        info.byte_fallback = value != 0;
      } else {
        info.add_dummy_prefix = value != 0;
      }
    }
  }
  if (info.pieces.empty()) {
    return absl::InvalidArgumentError("not a SentencePiece model: it has no pieces");
  }
  return info;
}

std::string SerializeModelProto(const SentencePieceVocab& vocab) {
  Writer model;
  bool has_bytes = false;
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    TokenType type = vocab.token_types.empty() ? TokenType::kNormal : vocab.token_types[id];
    // libsentencepiece needs its unknown piece typed as such.
    if (vocab.unk_id.has_value() && *vocab.unk_id == id) type = TokenType::kUnknown;
    has_bytes = has_bytes || type == TokenType::kByte;
    Writer piece;
    piece.BytesField(kPiecePiece, vocab.tokens[id]);
    piece.FloatField(kPieceScore, vocab.scores.empty() ? 0.0f : vocab.scores[id]);
    piece.VarintField(kPieceType, static_cast<uint64_t>(type));
    model.BytesField(kModelPieces, piece.out());
  }
  Writer trainer;
  trainer.VarintField(kTrainerModelType, static_cast<uint64_t>(vocab.algorithm));
  trainer.VarintField(kTrainerByteFallback, has_bytes ? 1 : 0);
  model.BytesField(kModelTrainerSpec, trainer.out());
  Writer normalizer;
  normalizer.BytesField(kNormalizerName, "identity");
  normalizer.VarintField(kNormalizerAddDummyPrefix, vocab.add_space_prefix ? 1 : 0);
  normalizer.VarintField(kNormalizerRemoveExtraWhitespaces, vocab.remove_extra_whitespaces ? 1 : 0);
  normalizer.VarintField(kNormalizerEscapeWhitespaces, 1);
  model.BytesField(kModelNormalizerSpec, normalizer.out());
  return std::move(model.out());
}

}  // namespace trustformers::tokenizers
