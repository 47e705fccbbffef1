// The request fields /v1/chat/completions and /v1/completions share: the model, streaming
// flags, the OpenAI sampling parameters and the extensions vLLM accepts (top_k, min_p, ...),
// read into a v1::GenerateRequest. Ranges fixed by the proto (temperature in [0, 2], at most 16
// stop strings, ...) are checked here so the error names the field; ranges that depend on the
// model (token ids, max_tokens against the context) are left to the engine.
#pragma once

#include <cstdint>

#include "server/http/openai/json_fields.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

// How the client wants the response delivered.
struct StreamFlags {
  bool stream = false;
  // stream_options.include_usage: a last chunk with `usage` and no choices.
  bool include_usage = false;
};

// Reads model, stream, stream_options, n, temperature, top_p, presence_penalty,
// frequency_penalty, seed, stop, logit_bias, top_k (-1 as vLLM's "disabled"), min_p, typical_p,
// repetition_penalty, min_tokens, ignore_eos, skip_special_tokens, stop_token_ids, echo,
// add_special_tokens and priority. Not max_tokens, logprobs or the input: the endpoints differ
// there. Sets request->include_usage: the gateway always asks the engine for usage, since
// non-streamed responses report it. Errors are recorded in `reader`.
void ReadSharedFields(FieldReader& reader, v1::GenerateRequest* request, StreamFlags* flags);

// sampling.n with the proto's "0 means 1" resolved.
int32_t NumChoices(const v1::GenerateRequest& request);

}  // namespace trustformers::server::openai
