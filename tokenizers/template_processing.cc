#include "tokenizers/template_processing.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;
using Piece = TemplateProcessing::Piece;

// One template entry: {"Sequence": {"id": "A", "type_id": 0}} or
// {"SpecialToken": {"id": "[CLS]", "type_id": 0}}.
absl::StatusOr<Piece> ParsePiece(const json& item, const std::string& path) {
  if (!item.is_object() || item.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " must be an object with one key, \"Sequence\" or \"SpecialToken\", not ",
        DescribeJsonType(item)));
  }
  const std::string& kind = item.begin().key();
  const json& body = item.begin().value();
  const std::string body_path = absl::StrCat(path, ".", kind);
  Piece piece;
  absl::StatusOr<std::string> id = ReadString(body, body_path, "id");
  if (!id.ok()) return id.status();
  absl::StatusOr<uint32_t> type_id = ReadUint32(body, body_path, "type_id");
  if (!type_id.ok()) return type_id.status();
  piece.type_id = *type_id;
  if (kind == "Sequence") {
    if (*id == "A") {
      piece.kind = Piece::Kind::kSequenceA;
    } else if (*id == "B") {
      piece.kind = Piece::Kind::kSequenceB;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(body_path, ".id must be \"A\" or \"B\", not \"", *id, "\""));
    }
  } else if (kind == "SpecialToken") {
    piece.kind = Piece::Kind::kSpecialToken;
    piece.special_token = *std::move(id);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " must be a \"Sequence\" or a \"SpecialToken\", not \"", kind, "\""));
  }
  return piece;
}

absl::StatusOr<std::vector<Piece>> ParseTemplate(const json& config, const char* key) {
  const std::string path = absl::StrCat("post_processor.", key);
  absl::StatusOr<const json*> field = RequiredField(config, "post_processor", key);
  if (!field.ok()) return field.status();
  if (!(*field)->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " must be an array, not ", DescribeJsonType(**field)));
  }
  std::vector<Piece> pieces;
  for (size_t i = 0; i < (*field)->size(); ++i) {
    absl::StatusOr<Piece> piece = ParsePiece((**field)[i], absl::StrCat(path, "[", i, "]"));
    if (!piece.ok()) return piece.status();
    pieces.push_back(*std::move(piece));
  }
  return pieces;
}

// BertProcessing's "cls" / "sep": ["[CLS]", 101].
absl::StatusOr<TemplateProcessing::SpecialToken> ParseBertToken(const json& config,
                                                                const char* key) {
  const std::string path = absl::StrCat("post_processor.", key);
  absl::StatusOr<const json*> field = RequiredField(config, "post_processor", key);
  if (!field.ok()) return field.status();
  if (!(*field)->is_array() || (*field)->size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " must be a [token, id] array, not ", DescribeJsonType(**field)));
  }
  absl::StatusOr<std::string> token = AsString((**field)[0], absl::StrCat(path, "[0]"));
  if (!token.ok()) return token.status();
  absl::StatusOr<uint32_t> id = AsUint32((**field)[1], absl::StrCat(path, "[1]"));
  if (!id.ok()) return id.status();
  return TemplateProcessing::SpecialToken{{*id}, {*std::move(token)}};
}

void AppendSequence(const Encoding& sequence, uint32_t type_id, Encoding* out) {
  for (size_t i = 0; i < sequence.size(); ++i) {
    out->Push(sequence.ids[i], type_id, sequence.tokens[i], sequence.offsets[i],
              sequence.special_tokens_mask[i], sequence.attention_mask[i]);
  }
}

}  // namespace

absl::StatusOr<TemplateProcessing> TemplateProcessing::FromJson(const json& config) {
  absl::StatusOr<std::string> type = ComponentType(config, "post_processor");
  if (!type.ok()) return type.status();
  TemplateProcessing processing;
  if (*type == "BertProcessing") {
    // The fixed BERT template; the map keys are internal names, so cls and sep may share a string.
    for (const char* key : {"cls", "sep"}) {
      absl::StatusOr<SpecialToken> token = ParseBertToken(config, key);
      if (!token.ok()) return token.status();
      processing.special_tokens_[key] = *std::move(token);
    }
    using Kind = Piece::Kind;
    processing.single_ = {{Kind::kSpecialToken, "cls", 0},
                          {Kind::kSequenceA, "", 0},
                          {Kind::kSpecialToken, "sep", 0}};
    processing.pair_ = processing.single_;
    processing.pair_.push_back({Kind::kSequenceB, "", 1});
    processing.pair_.push_back({Kind::kSpecialToken, "sep", 1});
    return processing;
  }
  if (*type != "TemplateProcessing") {
    return absl::UnimplementedError(
        absl::StrCat("post_processor type '", *type,
                     "' is not supported (supported: TemplateProcessing, BertProcessing)"));
  }
  absl::StatusOr<std::vector<Piece>> single = ParseTemplate(config, "single");
  if (!single.ok()) return single.status();
  absl::StatusOr<std::vector<Piece>> pair = ParseTemplate(config, "pair");
  if (!pair.ok()) return pair.status();
  processing.single_ = *std::move(single);
  processing.pair_ = *std::move(pair);

  absl::StatusOr<const json*> specials = RequiredField(config, "post_processor", "special_tokens");
  if (!specials.ok()) return specials.status();
  if (!(*specials)->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "post_processor.special_tokens must be an object, not ", DescribeJsonType(**specials)));
  }
  for (const auto& [key, value] : (*specials)->items()) {
    const std::string path = absl::StrCat("post_processor.special_tokens[\"", key, "\"]");
    SpecialToken token;
    for (const char* field_name : {"ids", "tokens"}) {
      absl::StatusOr<const json*> list = RequiredField(value, path, field_name);
      if (!list.ok()) return list.status();
      if (!(*list)->is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".", field_name, " must be an array, not ", DescribeJsonType(**list)));
      }
      for (size_t i = 0; i < (*list)->size(); ++i) {
        const std::string item_path = absl::StrCat(path, ".", field_name, "[", i, "]");
        if (field_name[0] == 'i') {
          absl::StatusOr<uint32_t> id = AsUint32((**list)[i], item_path);
          if (!id.ok()) return id.status();
          token.ids.push_back(*id);
        } else {
          absl::StatusOr<std::string> text = AsString((**list)[i], item_path);
          if (!text.ok()) return text.status();
          token.tokens.push_back(*std::move(text));
        }
      }
    }
    if (token.ids.size() != token.tokens.size()) {
      return absl::InvalidArgumentError(absl::StrCat(path, " has ", token.ids.size(), " ids but ",
                                                     token.tokens.size(), " tokens"));
    }
    processing.special_tokens_[key] = std::move(token);
  }

  bool pair_has_a = false;
  bool pair_has_b = false;
  for (const bool is_pair : {false, true}) {
    for (const Piece& piece : is_pair ? processing.pair_ : processing.single_) {
      if (piece.kind == Piece::Kind::kSpecialToken &&
          !processing.special_tokens_.contains(piece.special_token)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "post_processor.", is_pair ? "pair" : "single", " uses the special token '",
            piece.special_token, "', which post_processor.special_tokens does not define"));
      }
      if (piece.kind == Piece::Kind::kSequenceB && !is_pair) {
        return absl::InvalidArgumentError(
            "post_processor.single uses $B, but a single input has no second sequence");
      }
      if (is_pair && piece.kind == Piece::Kind::kSequenceA) pair_has_a = true;
      if (is_pair && piece.kind == Piece::Kind::kSequenceB) pair_has_b = true;
    }
  }
  if (!pair_has_a || !pair_has_b) {
    return absl::InvalidArgumentError("post_processor.pair must use both sequences, $A and $B");
  }
  return processing;
}

size_t TemplateProcessing::AddedTokens(bool pair) const {
  size_t added = 0;
  for (const Piece& piece : pair ? pair_ : single_) {
    if (piece.kind == Piece::Kind::kSpecialToken) {
      added += special_tokens_.at(piece.special_token).ids.size();
    }
  }
  return added;
}

Encoding TemplateProcessing::Apply(const Encoding& a, const Encoding* b,
                                   bool add_special_tokens) const {
  Encoding out;
  for (const Piece& piece : b != nullptr ? pair_ : single_) {
    switch (piece.kind) {
      case Piece::Kind::kSequenceA:
        AppendSequence(a, piece.type_id, &out);
        break;
      case Piece::Kind::kSequenceB:
        if (b != nullptr) AppendSequence(*b, piece.type_id, &out);
        break;
      case Piece::Kind::kSpecialToken: {
        if (!add_special_tokens) break;
        const SpecialToken& token = special_tokens_.at(piece.special_token);
        for (size_t i = 0; i < token.ids.size(); ++i) {
          out.Push(token.ids[i], piece.type_id, token.tokens[i], {0, 0}, 1, 1);
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace trustformers::tokenizers
