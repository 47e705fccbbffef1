// A byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2, SmolLM2, ...): text to token ids and back,
// with the ids Hugging Face `tokenizers` gives. Built from GGUF metadata (a BpeVocab) or from a
// Hugging Face tokenizer.json whose model is BPE.
//
// Encoding: the text is checked to be UTF-8, split around added tokens (control and user-defined
// tokens in GGUF terms, "added_tokens" in tokenizer.json), each stretch between them is normalised
// (tokenizer.json's NFC, if any), pre-tokenized and merged piece by piece; BOS/EOS or the
// post-processor's template tokens are added on request. Decoding maps tokens back to their bytes;
// text is valid UTF-8, with U+FFFD where the bytes are not.
//
// Immutable once built: every method is const and may be called from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/bpe_vocab.h"
#include "tokenizers/causal_tokenizer.h"
#include "tokenizers/pre_tokenizer.h"

namespace trustformers::tokenizers {

class AddedVocabulary;
class BpeModel;

class BpeTokenizer : public CausalTokenizer {
 public:
  // INVALID_ARGUMENT for an inconsistent vocabulary (array lengths, ids out of range, merges of
  // tokens that do not exist); UNIMPLEMENTED for a pre-tokenizer name we do not know.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromVocab(const BpeVocab& vocab);
  // From a Hugging Face tokenizer.json with a BPE model. NOT_FOUND when the file cannot be read;
  // INVALID_ARGUMENT for malformed JSON or values; UNIMPLEMENTED for components we do not
  // support. Messages name the field.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromJson(absl::string_view json);
  // A Hugging Face model folder: its tokenizer.json, with the special tokens its
  // tokenizer_config.json names (bos_token, eos_token, unk_token, pad_token, as strings or
  // {"content": ...} objects) as bos_id() and the rest, and its add_bos_token / add_eos_token
  // applied where the post-processor adds nothing itself. Without tokenizer_config.json, as
  // FromFile. INVALID_ARGUMENT naming the key for a special token not in the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromHfFolder(const std::string& folder);

  ~BpeTokenizer() override;
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  // Byte-level characters mapped back to bytes, a control token's own text, one byte for
  // "<0xAB>" tokens.
  absl::string_view TokenBytes(uint32_t id) const override;

  // Ids 0 .. vocab_size()-1 (some may be unused where a tokenizer.json skips ids).
  size_t vocab_size() const override { return tokens_.size(); }
  std::optional<uint32_t> TokenToId(absl::string_view token) const override;
  const std::string* IdToToken(uint32_t id) const override;
  TokenType token_type(uint32_t id) const override;

  std::optional<uint32_t> bos_id() const override { return bos_id_; }
  std::optional<uint32_t> eos_id() const override { return eos_id_; }
  std::optional<uint32_t> unk_id() const override { return unk_id_; }
  std::optional<uint32_t> pad_id() const override { return pad_id_; }
  // What add_special_tokens puts before and after the text.
  const std::vector<uint32_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<uint32_t>& suffix_ids() const { return suffix_ids_; }

 protected:
  // add_special_tokens adds BOS/EOS as the vocabulary asks (tokenizer.json: the post-processor's
  // template); user-defined tokens (non-special added tokens) are always recognised. Also
  // INVALID_ARGUMENT for text a pre-tokenizer pattern gives up on.
  absl::StatusOr<std::vector<uint32_t>> DoEncode(absl::string_view text, bool add_special_tokens,
                                                 bool parse_special) const override;
  // The tokens' bytes joined, ill-formed sequences replaced by U+FFFD as Hugging Face does.
  std::string DoDecode(std::span<const uint32_t> ids, bool skip_special_tokens) const override;

 private:
  BpeTokenizer();

  // Fills token_bytes_ once every other member is set.
  void Finish(bool byte_level_decoder, bool decode_added_tokens);
  absl::Status EncodeSegment(absl::string_view text, bool parse_special,
                             std::vector<uint32_t>* ids) const;
  absl::Status EncodePlain(absl::string_view text, std::vector<uint32_t>* ids) const;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  // What TokenBytes returns, computed once.
  std::vector<std::string> token_bytes_;
  std::unique_ptr<BpeModel> model_;
  PreTokenizer pre_tokenizer_;
  std::unique_ptr<AddedVocabulary> added_;
  // tokenizer.json's NFC normalizer.
  bool nfc_ = false;
  std::optional<uint32_t> bos_id_;
  std::optional<uint32_t> eos_id_;
  std::optional<uint32_t> unk_id_;
  std::optional<uint32_t> pad_id_;
  std::vector<uint32_t> prefix_ids_;
  std::vector<uint32_t> suffix_ids_;
};

}  // namespace trustformers::tokenizers
