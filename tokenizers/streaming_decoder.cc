#include "tokenizers/streaming_decoder.h"

#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {

std::string Utf8StreamAssembler::Push(absl::string_view bytes) {
  pending_.append(bytes.data(), bytes.size());
  const size_t hold = IncompleteUtf8Tail(pending_);
  std::string text;
  text.reserve(pending_.size());
  AppendUtf8Lossy(absl::string_view(pending_).substr(0, pending_.size() - hold), &text);
  pending_.erase(0, pending_.size() - hold);
  return text;
}

std::string Utf8StreamAssembler::Finish() {
  std::string text;
  AppendUtf8Lossy(pending_, &text);
  pending_.clear();
  return text;
}

std::string StreamingDecoder::Push(uint32_t id) {
  if (id >= tokenizer_.vocab_size()) return {};
  if (skip_special_tokens_ && tokenizer_.IsSpecial(id)) return {};
  return assembler_.Push(tokenizer_.TokenBytes(id));
}

}  // namespace trustformers::tokenizers
