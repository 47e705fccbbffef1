// A tokenizer loaded from a Hugging Face tokenizer.json: text to token ids (with type ids, masks
// and byte offsets) and ids back to text, with the same results as the `tokenizers` library. It
// covers what BERT-family models use: BertNormalizer, BertPreTokenizer, WordPiece,
// TemplateProcessing (or BertProcessing), the WordPiece decoder, added tokens, truncation and
// padding. A file that names any other component is refused with UNIMPLEMENTED.
//
// Immutable once loaded apart from set_truncation / set_padding: the const methods may be called
// from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/encoding.h"
#include "tokenizers/padding.h"
#include "tokenizers/truncation.h"

namespace trustformers::tokenizers {

class AddedVocabulary;
class BertNormalizer;
class NormalizedString;
class TemplateProcessing;
class WordPiece;
class WordPieceDecoder;

// Settings for one Encode call. Tokenizer::default_options() holds the tokenizer's own (from
// tokenizer.json or set_truncation / set_padding); copy it and change what the call needs.
struct EncodeOptions {
  // Add the post-processor's special tokens ([CLS], [SEP]).
  bool add_special_tokens = true;
  // Unset: no truncation.
  std::optional<TruncationParams> truncation;
  // Unset: no padding.
  std::optional<PaddingParams> padding;
};

class Tokenizer {
 public:
  // NOT_FOUND when the file cannot be read; INVALID_ARGUMENT for malformed JSON or values;
  // UNIMPLEMENTED for components other than the BERT ones. Messages name the file and the field.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Errors: INVALID_ARGUMENT for text that is not valid UTF-8 (naming the byte offset) or
  // settings the input cannot meet (see Truncate); FAILED_PRECONDITION when a word needs the
  // unknown token and the vocabulary has none.
  absl::StatusOr<Encoding> Encode(absl::string_view text, bool add_special_tokens = true) const;
  absl::StatusOr<Encoding> Encode(absl::string_view text, const EncodeOptions& options) const;
  // A pair (question and context, two sentences): offsets of the second part refer to `second`.
  absl::StatusOr<Encoding> EncodePair(absl::string_view first, absl::string_view second,
                                      bool add_special_tokens = true) const;
  absl::StatusOr<Encoding> EncodePair(absl::string_view first, absl::string_view second,
                                      const EncodeOptions& options) const;
  // Encodes each text, then pads the batch together (BatchLongest pads to its longest member).
  // The first failing text fails the batch, with its index in the message.
  absl::StatusOr<std::vector<Encoding>> EncodeBatch(const std::vector<std::string>& texts,
                                                    bool add_special_tokens = true) const;
  absl::StatusOr<std::vector<Encoding>> EncodeBatch(const std::vector<std::string>& texts,
                                                    const EncodeOptions& options) const;
  absl::StatusOr<std::vector<Encoding>> EncodePairBatch(
      const std::vector<std::pair<std::string, std::string>>& pairs,
      const EncodeOptions& options) const;

  // Text for `ids`. Ids outside the vocabulary are skipped, as Hugging Face does;
  // skip_special_tokens also drops the added tokens marked special ([CLS], [SEP], [PAD], [UNK],
  // ...).
  std::string Decode(std::span<const uint32_t> ids, bool skip_special_tokens = true) const;

  // Added tokens first, then the model's vocabulary.
  std::optional<uint32_t> TokenToId(absl::string_view token) const;
  std::optional<std::string> IdToToken(uint32_t id) const;
  // Distinct token strings, added tokens included.
  size_t vocab_size() const;

  const std::optional<TruncationParams>& truncation() const { return truncation_; }
  const std::optional<PaddingParams>& padding() const { return padding_; }
  // Not thread-safe: call before sharing the tokenizer. INVALID_ARGUMENT for padding beyond
  // kMaxPaddingLength.
  void set_truncation(std::optional<TruncationParams> truncation) {
    truncation_ = std::move(truncation);
  }
  absl::Status set_padding(std::optional<PaddingParams> padding);
  EncodeOptions default_options() const;

 private:
  Tokenizer();

  absl::StatusOr<Encoding> EncodeSequence(absl::string_view text, uint32_t type_id) const;
  absl::Status EncodeSplit(const NormalizedString& piece, uint32_t type_id,
                           Encoding* encoding) const;
  absl::StatusOr<Encoding> PostProcess(Encoding a, std::optional<Encoding> b,
                                       const EncodeOptions& options) const;
  absl::StatusOr<Encoding> EncodeOne(absl::string_view first, const absl::string_view* second,
                                     const EncodeOptions& options) const;

  // Null when tokenizer.json sets the component to null.
  std::unique_ptr<BertNormalizer> normalizer_;
  bool bert_pre_tokenizer_ = false;
  std::unique_ptr<WordPiece> model_;
  std::unique_ptr<TemplateProcessing> post_processor_;
  std::unique_ptr<WordPieceDecoder> decoder_;
  std::unique_ptr<AddedVocabulary> added_vocabulary_;
  std::optional<TruncationParams> truncation_;
  std::optional<PaddingParams> padding_;
};

}  // namespace trustformers::tokenizers
