// Turns WordPiece tokens back into text: pieces carrying the continuing-subword prefix join the
// previous one, others start a new word after a space, and (with cleanup) the spaces Hugging
// Face's decoder removes before punctuation and English contractions go too.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace trustformers::tokenizers {

class WordPieceDecoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}

  // From a tokenizer.json "decoder" object of type WordPiece.
  static absl::StatusOr<WordPieceDecoder> FromJson(const nlohmann::json& config);

  std::string Decode(const std::vector<std::string>& tokens) const;

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace trustformers::tokenizers
