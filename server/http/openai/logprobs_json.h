// Token log-probabilities in the two shapes the OpenAI API uses: chat completions'
// {"content": [{"token", "logprob", "bytes", "top_logprobs"}]} and legacy completions' parallel
// arrays {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
#pragma once

#include <cstdint>

#include "google/protobuf/repeated_ptr_field.h"
#include "nlohmann/json.hpp"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

using TokenLogprobs = google::protobuf::RepeatedPtrField<v1::TokenLogprob>;

// {"content": [...], "refusal": null}: per token its text, logprob, UTF-8 bytes as integers and
// the alternatives in the same shape (without their own alternatives). A token without a logprob
// (the first of an echoed prompt) gets -9999.0, OpenAI's "very unlikely".
nlohmann::json ChatLogprobsJson(const TokenLogprobs& tokens);

// {"tokens", "token_logprobs", "top_logprobs", "text_offset"} for `tokens`. A token without a
// logprob gets null in token_logprobs and top_logprobs, as OpenAI's first echoed token does.
// Alternatives map token text to logprob; two alternatives with the same text (e.g. both
// partial UTF-8, shown as U+FFFD) keep the more likely. text_offset is each token's position in
// the choice's text in Unicode code points (a token that starts inside a character split across
// tokens points at that character). *text_offset carries the count from one call to the next,
// so a stream's chunks continue where the previous chunk ended; start it at 0.
nlohmann::json CompletionLogprobsJson(const TokenLogprobs& tokens, int64_t* text_offset);

}  // namespace trustformers::server::openai
