// Streamed /v1/chat/completions and /v1/completions: turns each message of the Generate
// stream(s) into the OpenAI chunks to send as SSE `data:` events ("chat.completion.chunk" or
// "text_completion" objects). The gateway writes "data: [DONE]" itself after the last one.
//
// Chat: a choice's first chunk carries delta.role "assistant" (and content, possibly ""); later
// chunks carry delta.content; the finish chunk carries finish_reason and an empty delta unless
// the message had text. Messages with nothing to say (no text, no logprobs, no finish) produce
// no chunk. The echoed prompt (echo: true) is sent as content, without logprobs: chat has no
// prompt logprobs. Completions: the same, with `text` instead of a delta, and the echoed prompt
// with its logprobs.
#pragma once

#include <optional>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/http/openai/openai_error.h"
#include "server/http/openai/response_common.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

struct StreamEvents {
  // Send each as one SSE data event, in order.
  std::vector<nlohmann::json> chunks;
  // Set when a choice ended in a way OpenAI cannot express (see response_common.h): after the
  // chunks, send ErrorBody(*error) as a data event (the openai SDKs raise it as APIError), end
  // the response without [DONE] and cancel the Generate call. Nothing is converted after it.
  std::optional<ApiError> error;
};

// Not thread-safe: the gateway feeds it the messages of all of a request's streams from one
// strand.
class StreamConverter {
 public:
  explicit StreamConverter(ResponseOptions options);

  // One message of the Generate stream for prompt `prompt_index` (0 for chat). With
  // include_usage, the message that finishes the last choice also yields the usage chunk
  // (usage summed over the streams' last messages).
  StreamEvents Convert(const v1::GenerateResponse& message, int32_t prompt_index = 0);

  // Every choice of every prompt finished normally.
  bool done() const { return finished_ == static_cast<int32_t>(choices_.size()); }
  // An error was returned; the stream is over.
  bool failed() const { return failed_; }

 private:
  struct Choice {
    bool started = false;
    bool finished = false;
    int64_t text_offset = 0;  // completions logprobs: code points sent so far
  };

  // The chunk for one choice's message, or null when there is nothing to send.
  nlohmann::json ChoiceJson(Choice& choice, int32_t index, const v1::GenerateResponse& message,
                            bool finishing);
  nlohmann::json Chunk(nlohmann::json choices) const;

  ResponseOptions options_;
  Envelope envelope_;
  std::vector<Choice> choices_;
  int32_t finished_ = 0;
  bool failed_ = false;
  v1::Usage usage_;
};

}  // namespace trustformers::server::openai
