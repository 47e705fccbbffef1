#include "tokenizers/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/bert_normalizer.h"
#include "tokenizers/bert_pre_tokenizer.h"
#include "tokenizers/json_fields.h"
#include "tokenizers/normalized_string.h"
#include "tokenizers/template_processing.h"
#include "tokenizers/utf8.h"
#include "tokenizers/wordpiece.h"
#include "tokenizers/wordpiece_decoder.h"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;

// Large multilingual tokenizer.json files reach tens of MB; this bounds what a hostile file costs.

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// A component of tokenizer.json ("normalizer", "decoder", ...) and its type; `config` is null
// when the component is absent or null (Hugging Face's "none").
struct ComponentConfig {
  const json* config = nullptr;
  std::string type;
};

absl::StatusOr<ComponentConfig> Component(const json& config, const char* key) {
  ComponentConfig component;
  component.config = OptionalField(config, key);
  if (component.config == nullptr) return component;
  absl::StatusOr<std::string> type = ComponentType(*component.config, key);
  if (!type.ok()) return type.status();
  component.type = *std::move(type);
  return component;
}

absl::Status Unsupported(absl::string_view component, absl::string_view type,
                         absl::string_view supported) {
  return absl::UnimplementedError(
      absl::StrCat(component, " type '", type, "' is not supported (supported: ", supported, ")"));
}

// Byte offset -> code point index, for every character boundary of `text` and its end.
std::vector<size_t> CharIndexByByte(absl::string_view text) {
  std::vector<size_t> index(text.size() + 1, 0);
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) index[i] = chars++;
  }
  index[text.size()] = chars;
  return index;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadTokenizerFile(path);
  if (!contents.ok()) return contents.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = FromJson(*contents);
  if (!tokenizer.ok()) return Prefixed(absl::StrCat("'", path, "': "), tokenizer.status());
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view text) {
  absl::StatusOr<json> document = ParseTokenizerJson(text);
  if (!document.ok()) return document.status();
  const json& config = *document;
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  // Every field is type-checked before it is read; the catch is a backstop so that no JSON value
  // can end the process.
  try {
    if (const json* version = OptionalField(config, "version")) {
      if (!version->is_string() || version->get<std::string>() != "1.0") {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer.json version must be \"1.0\", not ", version->dump()));
      }
    }

    absl::StatusOr<const json*> model = RequiredField(config, "tokenizer.json", "model");
    if (!model.ok()) return model.status();
    if (!(*model)->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model must be an object, not ", DescribeJsonType(**model)));
    }
    if (const json* type = OptionalField(**model, "type")) {
      if (!type->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("model.type must be a string, not ", DescribeJsonType(*type)));
      }
      if (type->get<std::string>() != "WordPiece") {
        return Unsupported("model", type->get<std::string>(), "WordPiece");
      }
    } else if ((*model)->contains("merges")) {
      // Untyped models are told apart by their fields, as Hugging Face does.
      return Unsupported("model", "BPE", "WordPiece");
    } else if (!(*model)->contains("max_input_chars_per_word")) {
      return absl::InvalidArgumentError(
          "model has no \"type\" field and does not have WordPiece's fields");
    }
    absl::StatusOr<std::unique_ptr<WordPiece>> wordpiece = WordPiece::FromJson(**model);
    if (!wordpiece.ok()) return wordpiece.status();
    tokenizer->model_ = *std::move(wordpiece);

    absl::StatusOr<ComponentConfig> normalizer = Component(config, "normalizer");
    if (!normalizer.ok()) return normalizer.status();
    if (normalizer->config != nullptr) {
      if (normalizer->type != "BertNormalizer") {
        return Unsupported("normalizer", normalizer->type, "BertNormalizer");
      }
      absl::StatusOr<BertNormalizer> bert = BertNormalizer::FromJson(*normalizer->config);
      if (!bert.ok()) return bert.status();
      tokenizer->normalizer_ = std::make_unique<BertNormalizer>(*bert);
    }

    absl::StatusOr<ComponentConfig> pre_tokenizer = Component(config, "pre_tokenizer");
    if (!pre_tokenizer.ok()) return pre_tokenizer.status();
    if (pre_tokenizer->config != nullptr) {
      if (pre_tokenizer->type != "BertPreTokenizer") {
        return Unsupported("pre_tokenizer", pre_tokenizer->type, "BertPreTokenizer");
      }
      tokenizer->bert_pre_tokenizer_ = true;
    }

    absl::StatusOr<ComponentConfig> post_processor = Component(config, "post_processor");
    if (!post_processor.ok()) return post_processor.status();
    if (post_processor->config != nullptr) {
      absl::StatusOr<TemplateProcessing> processing =
          TemplateProcessing::FromJson(*post_processor->config);
      if (!processing.ok()) return processing.status();
      tokenizer->post_processor_ = std::make_unique<TemplateProcessing>(*std::move(processing));
    }

    absl::StatusOr<ComponentConfig> decoder = Component(config, "decoder");
    if (!decoder.ok()) return decoder.status();
    if (decoder->config != nullptr) {
      if (decoder->type != "WordPiece") return Unsupported("decoder", decoder->type, "WordPiece");
      absl::StatusOr<WordPieceDecoder> wordpiece_decoder =
          WordPieceDecoder::FromJson(*decoder->config);
      if (!wordpiece_decoder.ok()) return wordpiece_decoder.status();
      tokenizer->decoder_ = std::make_unique<WordPieceDecoder>(*std::move(wordpiece_decoder));
    }

    std::vector<AddedToken> added_tokens;
    if (const json* added = OptionalField(config, "added_tokens")) {
      absl::StatusOr<std::vector<AddedToken>> parsed = AddedVocabulary::ParseJson(*added);
      if (!parsed.ok()) return parsed.status();
      added_tokens = *std::move(parsed);
    }
    const BertNormalizer* bert_normalizer = tokenizer->normalizer_.get();
    const WordPiece* wordpiece_model = tokenizer->model_.get();
    tokenizer->added_vocabulary_ = std::make_unique<AddedVocabulary>(
        std::move(added_tokens),
        [wordpiece_model](absl::string_view token) { return wordpiece_model->TokenToId(token); },
        wordpiece_model->vocab_size(),
        [bert_normalizer](absl::string_view content) {
          if (bert_normalizer == nullptr) return std::string(content);
          NormalizedString normalized = NormalizedString::FromUtf8(content, 0);
          bert_normalizer->Normalize(&normalized);
          return normalized.ToUtf8();
        });

    if (const json* truncation = OptionalField(config, "truncation")) {
      absl::StatusOr<TruncationParams> params = ParseTruncation(*truncation);
      if (!params.ok()) return params.status();
      tokenizer->truncation_ = *params;
    }
    if (const json* padding = OptionalField(config, "padding")) {
      absl::StatusOr<PaddingParams> params = ParsePadding(*padding);
      if (!params.ok()) return params.status();
      tokenizer->padding_ = *std::move(params);
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed tokenizer.json: ", e.what()));
  }

  // Ids the tokenizer emits on its own must exist, or a model would index past its embeddings.
  if (tokenizer->post_processor_ != nullptr) {
    for (const auto& [name, special] : tokenizer->post_processor_->special_tokens()) {
      for (uint32_t id : special.ids) {
        if (!tokenizer->IdToToken(id).has_value()) {
          return absl::InvalidArgumentError(absl::StrCat("post_processor special token '", name,
                                                         "' has id ", id,
                                                         ", which is not in the vocabulary"));
        }
      }
    }
  }
  if (tokenizer->padding_.has_value() && !tokenizer->IdToToken(tokenizer->padding_->pad_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("padding.pad_id ", tokenizer->padding_->pad_id, " is not in the vocabulary"));
  }
  return tokenizer;
}

absl::Status Tokenizer::set_padding(std::optional<PaddingParams> padding) {
  if (padding.has_value()) {
    if (absl::Status status = ValidatePadding(*padding); !status.ok()) return status;
  }
  padding_ = std::move(padding);
  return absl::OkStatus();
}

EncodeOptions Tokenizer::default_options() const {
  EncodeOptions options;
  options.truncation = truncation_;
  options.padding = padding_;
  return options;
}

absl::Status Tokenizer::EncodeSplit(const NormalizedString& piece, uint32_t type_id,
                                    Encoding* encoding) const {
  std::vector<NormalizedString> words;
  if (bert_pre_tokenizer_) {
    BertPreTokenizer::Split(piece, &words);
  } else {
    words.push_back(piece);
  }
  std::vector<WordPiece::Piece> pieces;
  for (const NormalizedString& word : words) {
    const std::string text = word.ToUtf8();
    pieces.clear();
    if (absl::Status status = model_->Tokenize(text, &pieces); !status.ok()) return status;
    const std::vector<size_t> char_index = CharIndexByByte(text);
    for (const WordPiece::Piece& p : pieces) {
      encoding->Push(p.id, type_id, *p.token,
                     word.SourceRange(char_index[p.begin], char_index[p.end]), 0, 1);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Encoding> Tokenizer::EncodeSequence(absl::string_view text, uint32_t type_id) const {
  if (absl::Status status = ValidateUtf8(text); !status.ok()) return status;
  Encoding encoding;

  // Text between raw-matched added tokens: normalised, then searched for the normalised added
  // tokens, and what remains goes through the pre-tokenizer and the model.
  auto encode_plain = [&](size_t begin, size_t end) -> absl::Status {
    NormalizedString normalized =
        NormalizedString::FromUtf8(text.substr(begin, end - begin), begin);
    if (normalizer_ != nullptr) normalizer_->Normalize(&normalized);
    if (normalized.empty()) return absl::OkStatus();
    const std::string utf8 = normalized.ToUtf8();
    const std::vector<AddedVocabulary::Match> matches =
        added_vocabulary_->FindMatches(utf8, /*normalized=*/true);
    if (matches.empty()) return EncodeSplit(normalized, type_id, &encoding);
    const std::vector<size_t> char_index = CharIndexByByte(utf8);
    size_t done = 0;
    for (const AddedVocabulary::Match& match : matches) {
      const size_t match_begin = char_index[match.begin];
      const size_t match_end = char_index[match.end];
      if (done < match_begin) {
        absl::Status status = EncodeSplit(normalized.Slice(done, match_begin), type_id, &encoding);
        if (!status.ok()) return status;
      }
      encoding.Push(match.id, type_id, utf8.substr(match.begin, match.end - match.begin),
                    normalized.SourceRange(match_begin, match_end), 0, 1);
      done = match_end;
    }
    if (done < normalized.size()) {
      return EncodeSplit(normalized.Slice(done, normalized.size()), type_id, &encoding);
    }
    return absl::OkStatus();
  };

  size_t done = 0;
  for (const AddedVocabulary::Match& match :
       added_vocabulary_->FindMatches(text, /*normalized=*/false)) {
    if (done < match.begin) {
      if (absl::Status status = encode_plain(done, match.begin); !status.ok()) return status;
    }
    encoding.Push(match.id, type_id, std::string(text.substr(match.begin, match.end - match.begin)),
                  {match.begin, match.end}, 0, 1);
    done = match.end;
  }
  if (done < text.size()) {
    if (absl::Status status = encode_plain(done, text.size()); !status.ok()) return status;
  }
  return encoding;
}

absl::StatusOr<Encoding> Tokenizer::PostProcess(Encoding a, std::optional<Encoding> b,
                                                const EncodeOptions& options) const {
  Encoding* second = b.has_value() ? &*b : nullptr;
  if (options.truncation.has_value()) {
    TruncationParams params = *options.truncation;
    const size_t added = options.add_special_tokens && post_processor_ != nullptr
                             ? post_processor_->AddedTokens(second != nullptr)
                             : 0;
    if (params.max_length < added) {
      return absl::InvalidArgumentError(absl::StrCat("truncation max_length ", params.max_length,
                                                     " is less than the ", added,
                                                     " special tokens the post-processor adds"));
    }
    params.max_length -= added;
    if (absl::Status status = Truncate(params, &a, second); !status.ok()) return status;
  }
  Encoding out;
  if (post_processor_ != nullptr) {
    out = post_processor_->Apply(a, second, options.add_special_tokens);
  } else {
    out = std::move(a);
    if (second != nullptr) {
      for (size_t i = 0; i < second->size(); ++i) {
        out.Push(second->ids[i], second->type_ids[i], std::move(second->tokens[i]),
                 second->offsets[i], second->special_tokens_mask[i], second->attention_mask[i]);
      }
    }
  }
  if (options.padding.has_value()) Pad(*options.padding, std::span<Encoding>(&out, 1));
  return out;
}

absl::StatusOr<Encoding> Tokenizer::EncodeOne(absl::string_view first,
                                              const absl::string_view* second,
                                              const EncodeOptions& options) const {
  if (options.padding.has_value()) {
    if (absl::Status status = ValidatePadding(*options.padding); !status.ok()) return status;
  }
  absl::StatusOr<Encoding> a = EncodeSequence(first, 0);
  if (!a.ok()) return second != nullptr ? Prefixed("first text: ", a.status()) : a.status();
  std::optional<Encoding> b;
  if (second != nullptr) {
    absl::StatusOr<Encoding> encoded = EncodeSequence(*second, 1);
    if (!encoded.ok()) return Prefixed("second text: ", encoded.status());
    b = *std::move(encoded);
  }
  return PostProcess(*std::move(a), std::move(b), options);
}

absl::StatusOr<Encoding> Tokenizer::Encode(absl::string_view text, bool add_special_tokens) const {
  EncodeOptions options = default_options();
  options.add_special_tokens = add_special_tokens;
  return EncodeOne(text, nullptr, options);
}

absl::StatusOr<Encoding> Tokenizer::Encode(absl::string_view text,
                                           const EncodeOptions& options) const {
  return EncodeOne(text, nullptr, options);
}

absl::StatusOr<Encoding> Tokenizer::EncodePair(absl::string_view first, absl::string_view second,
                                               bool add_special_tokens) const {
  EncodeOptions options = default_options();
  options.add_special_tokens = add_special_tokens;
  return EncodeOne(first, &second, options);
}

absl::StatusOr<Encoding> Tokenizer::EncodePair(absl::string_view first, absl::string_view second,
                                               const EncodeOptions& options) const {
  return EncodeOne(first, &second, options);
}

absl::StatusOr<std::vector<Encoding>> Tokenizer::EncodeBatch(const std::vector<std::string>& texts,
                                                             bool add_special_tokens) const {
  EncodeOptions options = default_options();
  options.add_special_tokens = add_special_tokens;
  return EncodeBatch(texts, options);
}

absl::StatusOr<std::vector<Encoding>> Tokenizer::EncodeBatch(const std::vector<std::string>& texts,
                                                             const EncodeOptions& options) const {
  std::vector<Encoding> encodings;
  encodings.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<Encoding> encoding = EncodeOne(texts[i], nullptr, options);
    if (!encoding.ok()) return Prefixed(absl::StrCat("batch item ", i, ": "), encoding.status());
    encodings.push_back(*std::move(encoding));
  }
  if (options.padding.has_value()) Pad(*options.padding, encodings);
  return encodings;
}

absl::StatusOr<std::vector<Encoding>> Tokenizer::EncodePairBatch(
    const std::vector<std::pair<std::string, std::string>>& pairs,
    const EncodeOptions& options) const {
  std::vector<Encoding> encodings;
  encodings.reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const absl::string_view second = pairs[i].second;
    absl::StatusOr<Encoding> encoding = EncodeOne(pairs[i].first, &second, options);
    if (!encoding.ok()) return Prefixed(absl::StrCat("batch item ", i, ": "), encoding.status());
    encodings.push_back(*std::move(encoding));
  }
  if (options.padding.has_value()) Pad(*options.padding, encodings);
  return encodings;
}

std::string Tokenizer::Decode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (uint32_t id : ids) {
    const std::string* token = added_vocabulary_->IdToToken(id);
    if (token == nullptr) token = model_->IdToToken(id);
    if (token == nullptr) continue;
    if (skip_special_tokens && added_vocabulary_->IsSpecial(*token)) continue;
    tokens.push_back(*token);
  }
  if (decoder_ != nullptr) return decoder_->Decode(tokens);
  return absl::StrJoin(tokens, " ");
}

std::optional<uint32_t> Tokenizer::TokenToId(absl::string_view token) const {
  if (std::optional<uint32_t> id = added_vocabulary_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(uint32_t id) const {
  const std::string* token = added_vocabulary_->IdToToken(id);
  if (token == nullptr) token = model_->IdToToken(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

size_t Tokenizer::vocab_size() const {
  return model_->vocab_size() + added_vocabulary_->new_token_count();
}

}  // namespace trustformers::tokenizers
