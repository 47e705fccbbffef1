#include "server/http/openai/logprobs_json.h"

#include <algorithm>
#include <string>

#include "server/http/openai/json_output.h"

namespace trustformers::server::openai {
namespace {

constexpr double kUnlikely = -9999.0;

nlohmann::json BytesJson(const std::string& bytes) {
  nlohmann::json out = nlohmann::json::array();
  for (char c : bytes) out.push_back(static_cast<unsigned char>(c));
  return out;
}

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters a token starts: every byte but UTF-8 continuation bytes (10xxxxxx). Summed over the
// tokens before one, this counts the characters of the text before it, plus the character it
// finishes when it starts inside one (split across tokens).
int64_t CodePointStarts(const std::string& bytes) {
  int64_t count = 0;
  for (char c : bytes) {
    if (!IsContinuation(c)) ++count;
  }
  return count;
}

}  // namespace

nlohmann::json ChatLogprobsJson(const TokenLogprobs& tokens) {
  nlohmann::json content = nlohmann::json::array();
  for (const v1::TokenLogprob& token : tokens) {
    nlohmann::json top = nlohmann::json::array();
    for (const v1::TopLogprob& alt : token.top_logprobs()) {
      top.push_back({{"token", alt.token()},
                     {"logprob", LogprobForJson(alt.logprob())},
                     {"bytes", BytesJson(alt.token_bytes())}});
    }
    content.push_back({{"token", token.token()},
                       {"logprob", token.has_logprob() ? LogprobForJson(token.logprob())
                                                       : nlohmann::json(kUnlikely)},
                       {"bytes", BytesJson(token.token_bytes())},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

nlohmann::json CompletionLogprobsJson(const TokenLogprobs& tokens, int64_t* text_offset) {
  nlohmann::json texts = nlohmann::json::array();
  nlohmann::json logprobs = nlohmann::json::array();
  nlohmann::json tops = nlohmann::json::array();
  nlohmann::json offsets = nlohmann::json::array();
  for (const v1::TokenLogprob& token : tokens) {
    texts.push_back(token.token());
    // A token that starts inside a character points at that character.
    const bool inside = !token.token_bytes().empty() && IsContinuation(token.token_bytes()[0]);
    offsets.push_back(std::max<int64_t>(0, *text_offset - (inside ? 1 : 0)));
    *text_offset += CodePointStarts(token.token_bytes());
    if (!token.has_logprob()) {
      logprobs.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    logprobs.push_back(LogprobForJson(token.logprob()));
    nlohmann::json top = nlohmann::json::object();
    for (const v1::TopLogprob& alt : token.top_logprobs()) {
      // Most likely first, so the first of equal texts is the one to keep.
      if (!top.contains(alt.token())) top[alt.token()] = LogprobForJson(alt.logprob());
    }
    tops.push_back(std::move(top));
  }
  return {{"tokens", std::move(texts)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

}  // namespace trustformers::server::openai
