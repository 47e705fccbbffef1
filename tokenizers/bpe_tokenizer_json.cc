// BpeTokenizer from a Hugging Face tokenizer.json: the BPE model, its normalizer (none or NFC),
// pre-tokenizer, post-processor (ByteLevel, TemplateProcessing, RobertaProcessing), ByteLevel
// decoder and added tokens; and from a model folder, with tokenizer_config.json's special tokens.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/bpe_model.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/json_fields.h"
#include "tokenizers/template_processing.h"
#include "tokenizers/unicode.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;

// Large multilingual tokenizer.json files reach tens of MB; this bounds what a hostile file costs.
// Ids may leave gaps, but not so wide that the id tables dwarf the vocabulary.
constexpr uint64_t kMaxIdGap = 1 << 16;

absl::Status Unsupported(absl::string_view component, absl::string_view type,
                         absl::string_view supported) {
  return absl::UnimplementedError(
      absl::StrCat(component, " type '", type, "' is not supported (supported: ", supported, ")"));
}

absl::StatusOr<bool> BoolOr(const json& config, absl::string_view path, const char* key,
                            bool default_value) {
  if (OptionalField(config, key) == nullptr) return default_value;
  return ReadBool(config, path, key);
}

absl::StatusOr<std::string> StringOr(const json& config, absl::string_view path, const char* key) {
  if (OptionalField(config, key) == nullptr) return std::string();
  return ReadString(config, path, key);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseMerges(const json& merges) {
  if (!merges.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.merges must be an array, not ", DescribeJsonType(merges)));
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& merge = merges[i];
    if (merge.is_string()) {
      // The older form "left right": tokens never contain a space in that form.
      const std::string& text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("model.merges[", i, "] ('", text, "') is not two tokens and a space"));
      }
      pairs.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      pairs.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.merges[", i, "] must be \"left right\" or [left, right], not ", merge.dump()));
    }
  }
  return pairs;
}

absl::StatusOr<std::unique_ptr<BpeModel>> ParseModel(const json& model) {
  absl::StatusOr<const json*> vocab = RequiredField(model, "model", "vocab");
  if (!vocab.ok()) return vocab.status();
  if (!(*vocab)->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.vocab must be an object, not ", DescribeJsonType(**vocab)));
  }
  BpeModel::Vocab entries;
  entries.reserve((*vocab)->size());
  for (const auto& [token, id] : (*vocab)->items()) {
    absl::StatusOr<uint32_t> value = AsUint32(id, absl::StrCat("model.vocab[\"", token, "\"]"));
    if (!value.ok()) return value.status();
    entries.insert_or_assign(token, *value);
  }
  absl::StatusOr<const json*> merges = RequiredField(model, "model", "merges");
  if (!merges.ok()) return merges.status();
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> pairs = ParseMerges(**merges);
  if (!pairs.ok()) return pairs.status();

  BpeModel::Options options;
  if (const json* dropout = OptionalField(model, "dropout")) {
    // Dropout randomises merges while training; a served tokenizer must be deterministic.
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      return absl::UnimplementedError(
          absl::StrCat("model.dropout ", dropout->dump(), " is not supported (only null or 0)"));
    }
  }
  if (OptionalField(model, "unk_token") != nullptr) {
    absl::StatusOr<std::string> unk = ReadString(model, "model", "unk_token");
    if (!unk.ok()) return unk.status();
    options.unk_token = *std::move(unk);
  }
  absl::StatusOr<std::string> prefix = StringOr(model, "model", "continuing_subword_prefix");
  if (!prefix.ok()) return prefix.status();
  options.continuing_subword_prefix = *std::move(prefix);
  absl::StatusOr<std::string> suffix = StringOr(model, "model", "end_of_word_suffix");
  if (!suffix.ok()) return suffix.status();
  options.end_of_word_suffix = *std::move(suffix);
  absl::StatusOr<bool> fuse_unk = BoolOr(model, "model", "fuse_unk", false);
  if (!fuse_unk.ok()) return fuse_unk.status();
  options.fuse_unk = *fuse_unk;
  absl::StatusOr<bool> byte_fallback = BoolOr(model, "model", "byte_fallback", false);
  if (!byte_fallback.ok()) return byte_fallback.status();
  options.byte_fallback = *byte_fallback;
  absl::StatusOr<bool> ignore_merges = BoolOr(model, "model", "ignore_merges", false);
  if (!ignore_merges.ok()) return ignore_merges.status();
  options.ignore_merges = *ignore_merges;
  absl::StatusOr<std::unique_ptr<BpeModel>> bpe =
      BpeModel::Create(std::move(entries), *pairs, std::move(options));
  if (!bpe.ok())
    return absl::Status(bpe.status().code(), absl::StrCat("model: ", bpe.status().message()));
  return bpe;
}

// Whether the normalizer is NFC (true) or absent (false).
absl::StatusOr<bool> ParseNormalizer(const json* config) {
  if (config == nullptr) return false;
  absl::StatusOr<std::string> type = ComponentType(*config, "normalizer");
  if (!type.ok()) return type.status();
  if (*type == "NFC") return true;
  if (*type == "Sequence") {
    absl::StatusOr<const json*> list = RequiredField(*config, "normalizer", "normalizers");
    if (!list.ok()) return list.status();
    if (!(*list)->is_array()) {
      return absl::InvalidArgumentError("normalizer.normalizers must be an array");
    }
    bool nfc = false;
    for (const json& item : **list) {
      absl::StatusOr<std::string> inner = ComponentType(item, "normalizer.normalizers[]");
      if (!inner.ok()) return inner.status();
      if (*inner != "NFC") return Unsupported("normalizer", *inner, "NFC");
      nfc = true;
    }
    return nfc;
  }
  return Unsupported("normalizer", *type, "NFC");
}

// Appends to prefix/suffix what the post-processor adds around one sequence.
absl::Status ParsePostProcessor(const json& config, const std::string& path, int depth,
                                std::vector<uint32_t>* prefix, std::vector<uint32_t>* suffix) {
  absl::StatusOr<std::string> type = ComponentType(config, path);
  if (!type.ok()) return type.status();
  if (*type == "ByteLevel") return absl::OkStatus();  // it only trims offsets
  if (*type == "Sequence" && depth < 4) {
    absl::StatusOr<const json*> list = RequiredField(config, path, "processors");
    if (!list.ok()) return list.status();
    if (!(*list)->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".processors must be an array"));
    }
    for (size_t i = 0; i < (*list)->size(); ++i) {
      absl::Status status = ParsePostProcessor(
          (**list)[i], absl::StrCat(path, ".processors[", i, "]"), depth + 1, prefix, suffix);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  if (*type == "TemplateProcessing") {
    absl::StatusOr<TemplateProcessing> processing = TemplateProcessing::FromJson(config);
    if (!processing.ok()) return processing.status();
    bool seen_sequence = false;
    for (const TemplateProcessing::Piece& piece : processing->single()) {
      if (piece.kind != TemplateProcessing::Piece::Kind::kSpecialToken) {
        seen_sequence = true;
        continue;
      }
      const auto& ids = processing->special_tokens().at(piece.special_token).ids;
      (seen_sequence ? suffix : prefix)
          ->insert((seen_sequence ? suffix : prefix)->end(), ids.begin(), ids.end());
    }
    return absl::OkStatus();
  }
  if (*type == "RobertaProcessing" || *type == "BertProcessing") {
    // "cls": [token, id] before the text, "sep": [token, id] after it.
    for (const char* key : {"cls", "sep"}) {
      absl::StatusOr<const json*> field = RequiredField(config, path, key);
      if (!field.ok()) return field.status();
      const json& pair = **field;
      if (!pair.is_array() || pair.size() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(path, ".", key, " must be [token, id]"));
      }
      absl::StatusOr<uint32_t> id = AsUint32(pair[1], absl::StrCat(path, ".", key, "[1]"));
      if (!id.ok()) return id.status();
      (key[0] == 'c' ? prefix : suffix)->push_back(*id);
    }
    return absl::OkStatus();
  }
  return Unsupported(path, *type,
                     "ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence");
}

// A special token of tokenizer_config.json: a string, an added-token object or null.
absl::StatusOr<std::optional<std::string>> SpecialTokenName(const json& config, const char* key) {
  const json* value = OptionalField(config, key);
  if (value == nullptr) return std::optional<std::string>();
  if (value->is_string()) return std::optional<std::string>(value->get<std::string>());
  if (value->is_object()) {
    absl::StatusOr<std::string> content =
        ReadString(*value, absl::StrCat("tokenizer_config.json ", key), "content");
    if (!content.ok()) return content.status();
    return std::optional<std::string>(*std::move(content));
  }
  return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json ", key,
                                                 " must be a string or an object, not ",
                                                 DescribeJsonType(*value)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromHfFolder(
    const std::string& folder) {
  const std::string config_path =
      (std::filesystem::path(folder) / "tokenizer_config.json").string();
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer =
      FromFile((std::filesystem::path(folder) / "tokenizer.json").string());
  if (!tokenizer.ok()) return tokenizer.status();
  std::error_code error;
  if (!std::filesystem::exists(config_path, error)) return tokenizer;
  absl::StatusOr<std::string> text = ReadTokenizerFile(config_path);
  if (!text.ok()) return text.status();
  json config;
  try {
    config = json::parse(*text);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", config_path, "' is not valid JSON: ", e.what()));
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("'", config_path, "' must hold an object"));
  }
  BpeTokenizer& t = **tokenizer;
  const std::pair<const char*, std::optional<uint32_t>*> specials[] = {{"bos_token", &t.bos_id_},
                                                                       {"eos_token", &t.eos_id_},
                                                                       {"unk_token", &t.unk_id_},
                                                                       {"pad_token", &t.pad_id_}};
  for (const auto& [key, id] : specials) {
    absl::StatusOr<std::optional<std::string>> name = SpecialTokenName(config, key);
    if (!name.ok()) {
      return absl::Status(name.status().code(),
                          absl::StrCat("'", config_path, "': ", name.status().message()));
    }
    if (!name->has_value()) continue;
    *id = t.TokenToId(**name);
    if (!id->has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", config_path, "': ", key, " '", **name, "' is not in the vocabulary"));
    }
  }
  for (const auto& [key, id, ids] : {std::tuple{"add_bos_token", t.bos_id_, &t.prefix_ids_},
                                     std::tuple{"add_eos_token", t.eos_id_, &t.suffix_ids_}}) {
    const json* flag = OptionalField(config, key);
    if (flag == nullptr) continue;
    if (!flag->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", config_path, "': ", key, " must be a boolean"));
    }
    if (!flag->get<bool>() || !ids->empty()) continue;
    if (!id.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", config_path, "': ", key, " is true but the token is not named"));
    }
    ids->push_back(*id);
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadTokenizerFile(path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = FromJson(*contents);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat("'", path, "': ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromJson(absl::string_view text) {
  absl::StatusOr<json> document = ParseTokenizerJson(text);
  if (!document.ok()) return document.status();
  const json& config = *document;
  std::unique_ptr<BpeTokenizer> tokenizer(new BpeTokenizer());
  // Every field is type-checked before it is read; the catch is a backstop so that no JSON value
  // can end the process.
  try {
    absl::StatusOr<const json*> model = RequiredField(config, "tokenizer.json", "model");
    if (!model.ok()) return model.status();
    if (const json* type = OptionalField(**model, "type")) {
      if (!type->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("model.type must be a string, not ", DescribeJsonType(*type)));
      }
      if (type->get<std::string>() != "BPE") {
        return Unsupported("model", type->get<std::string>(), "BPE");
      }
    }
    absl::StatusOr<std::unique_ptr<BpeModel>> bpe = ParseModel(**model);
    if (!bpe.ok()) return bpe.status();
    tokenizer->model_ = *std::move(bpe);

    absl::StatusOr<bool> nfc = ParseNormalizer(OptionalField(config, "normalizer"));
    if (!nfc.ok()) return nfc.status();
    tokenizer->nfc_ = *nfc;

    if (const json* pre = OptionalField(config, "pre_tokenizer")) {
      absl::StatusOr<PreTokenizer> pre_tokenizer = PreTokenizer::FromJson(*pre);
      if (!pre_tokenizer.ok()) return pre_tokenizer.status();
      tokenizer->pre_tokenizer_ = *std::move(pre_tokenizer);
    }

    const json* decoder = OptionalField(config, "decoder");
    if (decoder == nullptr) {
      return absl::UnimplementedError("a BPE tokenizer.json without a decoder is not supported");
    }
    absl::StatusOr<std::string> decoder_type = ComponentType(*decoder, "decoder");
    if (!decoder_type.ok()) return decoder_type.status();
    if (*decoder_type != "ByteLevel") return Unsupported("decoder", *decoder_type, "ByteLevel");

    std::vector<AddedToken> added_tokens;
    if (const json* added = OptionalField(config, "added_tokens")) {
      absl::StatusOr<std::vector<AddedToken>> parsed = AddedVocabulary::ParseJson(*added);
      if (!parsed.ok()) return parsed.status();
      added_tokens = *std::move(parsed);
    }
    const BpeModel* bpe_model = tokenizer->model_.get();
    const bool use_nfc = tokenizer->nfc_;
    tokenizer->added_ = std::make_unique<AddedVocabulary>(
        added_tokens, [bpe_model](absl::string_view token) { return bpe_model->TokenToId(token); },
        bpe_model->vocab().size(),
        [use_nfc](absl::string_view content) {
          return use_nfc ? NfcNormalize(content) : std::string(content);
        });

    // Ids are the vocabulary's and the added tokens'; strings where ids repeat: the model's.
    uint64_t max_id = 0;
    for (const auto& [token, id] : bpe_model->vocab()) max_id = std::max<uint64_t>(max_id, id);
    for (const AddedToken& token : added_tokens) {
      if (std::optional<uint32_t> id = tokenizer->added_->TokenToId(token.content)) {
        max_id = std::max<uint64_t>(max_id, *id);
      }
    }
    const uint64_t entries = bpe_model->vocab().size() + added_tokens.size();
    if (max_id >= entries + kMaxIdGap) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", max_id, " is far beyond the ",
                                                     entries, " tokens the file defines"));
    }
    tokenizer->tokens_.assign(max_id + 1, std::string());
    tokenizer->types_.assign(max_id + 1, TokenType::kUnused);
    for (const auto& [token, id] : bpe_model->vocab()) {
      tokenizer->tokens_[id] = token;
      tokenizer->types_[id] = TokenType::kNormal;
    }
    for (const AddedToken& token : added_tokens) {
      std::optional<uint32_t> id = tokenizer->added_->TokenToId(token.content);
      if (!id.has_value()) continue;  // empty content
      const AddedToken* declared = tokenizer->added_->Find(*id);
      if (declared == nullptr) continue;
      tokenizer->tokens_[*id] = declared->content;
      tokenizer->types_[*id] = declared->special ? TokenType::kControl : TokenType::kUserDefined;
    }

    if (const json* post = OptionalField(config, "post_processor")) {
      absl::Status status = ParsePostProcessor(*post, "post_processor", 0, &tokenizer->prefix_ids_,
                                               &tokenizer->suffix_ids_);
      if (!status.ok()) return status;
    }
    for (const std::vector<uint32_t>* ids : {&tokenizer->prefix_ids_, &tokenizer->suffix_ids_}) {
      for (uint32_t id : *ids) {
        if (id >= tokenizer->tokens_.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("post_processor adds the id ", id, ", which is not in the vocabulary"));
        }
      }
    }
    if (!tokenizer->model_->options().unk_token.has_value()) {
      tokenizer->unk_id_ = std::nullopt;
    } else {
      tokenizer->unk_id_ = tokenizer->model_->TokenToId(*tokenizer->model_->options().unk_token);
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed tokenizer.json: ", e.what()));
  }
  tokenizer->Finish(/*byte_level_decoder=*/true, /*decode_added_tokens=*/true);
  return tokenizer;
}

}  // namespace trustformers::tokenizers
