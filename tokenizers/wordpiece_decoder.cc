#include "tokenizers/wordpiece_decoder.h"

#include <array>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "tokenizers/json_fields.h"

namespace trustformers::tokenizers {
namespace {

// Applied to each token (with its leading space) on its own and in this order, as Hugging Face
// does: a pattern therefore only matches inside one token.
std::string Cleanup(std::string token) {
  static constexpr std::array<std::pair<absl::string_view, absl::string_view>, 11> kRules = {{
      {" .", "."},
      {" ?", "?"},
      {" !", "!"},
      {" ,", ","},
      {" ' ", "'"},
      {" n't", "n't"},
      {" 'm", "'m"},
      {" do not", " don't"},
      {" 's", "'s"},
      {" 've", "'ve"},
      {" 're", "'re"},
  }};
  for (const auto& [from, to] : kRules) {
    if (absl::StrContains(token, from)) token = absl::StrReplaceAll(token, {{from, to}});
  }
  return token;
}

}  // namespace

absl::StatusOr<WordPieceDecoder> WordPieceDecoder::FromJson(const nlohmann::json& config) {
  constexpr absl::string_view kPath = "decoder";
  // Both fields have Hugging Face's defaults when absent, as in files written by older versions.
  std::string prefix = "##";
  bool cleanup = true;
  if (OptionalField(config, "prefix") != nullptr) {
    absl::StatusOr<std::string> value = ReadString(config, kPath, "prefix");
    if (!value.ok()) return value.status();
    prefix = *std::move(value);
  }
  if (OptionalField(config, "cleanup") != nullptr) {
    absl::StatusOr<bool> value = ReadBool(config, kPath, "cleanup");
    if (!value.ok()) return value.status();
    cleanup = *value;
  }
  return WordPieceDecoder(std::move(prefix), cleanup);
}

std::string WordPieceDecoder::Decode(const std::vector<std::string>& tokens) const {
  std::string text;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string token;
    if (i == 0) {
      token = tokens[i];
    } else if (absl::StartsWith(tokens[i], prefix_)) {
      token = tokens[i].substr(prefix_.size());
    } else {
      token = " " + tokens[i];
    }
    if (cleanup_) token = Cleanup(std::move(token));
    text += token;
  }
  return text;
}

}  // namespace trustformers::tokenizers
