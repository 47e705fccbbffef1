// A SentencePiece tokenizer (Llama 2, Mistral, Gemma-style models) through libsentencepiece: from a
// .model file, or from a GGUF "llama" vocabulary (tokens, scores, token types), which is turned
// into the equivalent ModelProto so that libsentencepiece merges it exactly as its own files.
//
// Encoding hands each stretch of text to libsentencepiece; with parse_special, control pieces
// written in the text (<s>, </s>, chat markers) are cut out first and become their ids, every
// stretch then getting SentencePiece's dummy prefix as llama.cpp gives it. User-defined pieces
// are matched by libsentencepiece itself. Decode(skip_special_tokens = true) is
// libsentencepiece's; TokenBytes gives each piece's bytes ("▁" as a space, "<0xAB>" as its
// byte, the unknown piece as " ⁇ ", as libsentencepiece shows it).
//
// Immutable once built; every method may be called from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/causal_tokenizer.h"
#include "tokenizers/sentencepiece_model.h"

namespace trustformers::tokenizers {

class AddedVocabulary;
namespace sentencepiece_backend {
class Processor;
}

class SentencePieceTokenizer : public CausalTokenizer {
 public:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // Which special tokens Encode(add_special_tokens = true) adds; a .model file does not say.
  struct Options {
    bool add_bos = true;
    bool add_eos = false;
  };

  // From a .model file: NOT_FOUND when it cannot be read; INVALID_ARGUMENT when it is not a
  // SentencePiece model (libsentencepiece's message included).
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromFile(const std::string& path,
                                                                          Options options);
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromSerializedProto(
      absl::string_view model, Options options);
  // INVALID_ARGUMENT for an inconsistent vocabulary (array lengths, ids out of range, no unknown
  // piece, pieces libsentencepiece refuses such as repeated ones).
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromVocab(
      const SentencePieceVocab& vocab);

  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  absl::string_view TokenBytes(uint32_t id) const override;
  size_t vocab_size() const override { return pieces_.size(); }
  std::optional<uint32_t> TokenToId(absl::string_view token) const override;
  const std::string* IdToToken(uint32_t id) const override;
  TokenType token_type(uint32_t id) const override;
  std::optional<uint32_t> bos_id() const override { return bos_id_; }
  std::optional<uint32_t> eos_id() const override { return eos_id_; }
  std::optional<uint32_t> unk_id() const override { return unk_id_; }
  std::optional<uint32_t> pad_id() const override { return pad_id_; }
  SentencePieceAlgorithm algorithm() const { return algorithm_; }

 protected:
  absl::StatusOr<std::vector<uint32_t>> DoEncode(absl::string_view text, bool add_special_tokens,
                                                 bool parse_special) const override;
  // With skip_special_tokens, libsentencepiece's decoding; without, the same text with each
  // control token's own text where it stands.
  std::string DoDecode(std::span<const uint32_t> ids, bool skip_special_tokens) const override;

 private:
  SentencePieceTokenizer();
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Create(
      absl::string_view model, const SentencePieceModelInfo& info, Options options);
  absl::Status EncodeText(absl::string_view text, std::vector<uint32_t>* ids) const;

  std::unique_ptr<sentencepiece_backend::Processor> processor_;
  std::vector<std::string> pieces_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<TokenType> types_;
  std::vector<std::string> token_bytes_;
  // Control pieces, matched in text with parse_special.
  std::unique_ptr<AddedVocabulary> controls_;
  SentencePieceAlgorithm algorithm_ = SentencePieceAlgorithm::kUnigram;
  bool add_dummy_prefix_ = true;
  std::optional<uint32_t> bos_id_;
  std::optional<uint32_t> eos_id_;
  std::optional<uint32_t> unk_id_;
  std::optional<uint32_t> pad_id_;
  Options options_;
};

}  // namespace trustformers::tokenizers
