// Generate stream messages for the OpenAI response tests, built the way the server stamps them.
#pragma once

#include <string>
#include <vector>

#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai::testing {

struct TokenSpec {
  int32_t id = 0;
  std::string bytes;
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // (bytes, logprob), most likely first
  bool has_logprob = true;
};

inline TokenSpec Token(int32_t id, std::string bytes, float logprob,
                       std::vector<std::pair<std::string, float>> top = {}) {
  TokenSpec t;
  t.id = id;
  t.bytes = std::move(bytes);
  t.logprob = logprob;
  t.top = std::move(top);
  return t;
}

// The first token of an echoed prompt: no context, so no logprob.
inline TokenSpec Unscored(int32_t id, std::string bytes) {
  TokenSpec t = Token(id, std::move(bytes), 0);
  t.has_logprob = false;
  return t;
}

inline v1::GenerateResponse Message(int32_t index, const std::string& text,
                                    v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED,
                                    const std::vector<TokenSpec>& tokens = {}) {
  v1::GenerateResponse m;
  m.set_index(index);
  m.set_text(text);
  m.set_finish_reason(finish);
  m.set_request_id("req-1");
  m.set_model("smol");
  for (const TokenSpec& t : tokens) {
    m.add_token_ids(t.id);
    v1::TokenLogprob* lp = m.add_logprobs();
    lp->set_token_id(t.id);
    lp->set_token(t.bytes);
    lp->set_token_bytes(t.bytes);
    if (t.has_logprob) lp->set_logprob(t.logprob);
    for (const auto& [bytes, logprob] : t.top) {
      v1::TopLogprob* top = lp->add_top_logprobs();
      top->set_token(bytes);
      top->set_token_bytes(bytes);
      top->set_logprob(logprob);
    }
  }
  return m;
}

inline v1::GenerateResponse WithCreated(v1::GenerateResponse m, int64_t seconds) {
  m.mutable_created()->set_seconds(seconds);
  m.mutable_created()->set_nanos(500);
  return m;
}

inline v1::GenerateResponse WithUsage(v1::GenerateResponse m, int32_t prompt, int32_t completion,
                                      int32_t cached = 0) {
  m.mutable_usage()->set_prompt_tokens(prompt);
  m.mutable_usage()->set_completion_tokens(completion);
  m.mutable_usage()->set_total_tokens(prompt + completion);
  m.mutable_usage()->set_cached_prompt_tokens(cached);
  return m;
}

}  // namespace trustformers::server::openai::testing
