// Non-streamed /v1/chat/completions and /v1/completions: collects the messages of the Generate
// stream(s) and builds the one "chat.completion" or "text_completion" object, with usage always
// present (the parsers always ask the engine for it).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/http/openai/logprobs_json.h"
#include "server/http/openai/response_common.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

// Not thread-safe: the gateway feeds it the messages of all of a request's streams from one
// strand.
class ResponseAggregator {
 public:
  explicit ResponseAggregator(ResponseOptions options);

  // One message of the Generate stream for prompt `prompt_index` (0 for chat). Non-OK when the
  // message ends its choice in a way OpenAI cannot express (see response_common.h) or breaks
  // the stream protocol: answer with ApiErrorFromStatus of it and cancel the Generate call.
  absl::Status Add(const v1::GenerateResponse& message, int32_t prompt_index = 0);

  // Every choice of every prompt finished.
  bool done() const { return finished_ == static_cast<int32_t>(choices_.size()); }

  // The response body, once the streams ended with OK. INTERNAL if a choice never finished.
  absl::StatusOr<nlohmann::json> Finish() const;

 private:
  struct Choice {
    std::string text;
    TokenLogprobs logprobs;
    v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  };

  ResponseOptions options_;
  Envelope envelope_;
  std::vector<Choice> choices_;
  int32_t finished_ = 0;
  v1::Usage usage_;
};

}  // namespace trustformers::server::openai
