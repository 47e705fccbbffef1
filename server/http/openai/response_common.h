// What the streamed and the aggregated responses of /v1/chat/completions and /v1/completions
// share: options, the envelope every chunk or response carries (id, object, created, model),
// usage, and how a choice's end maps to OpenAI.
//
// finish_reason: FINISH_REASON_STOP (end-of-sequence or stop token) and STOP_SEQUENCE (a stop
// string) are "stop"; LENGTH is "length". OpenAI has no reason for a choice the server gave up
// on, so those become errors instead of a made-up finish_reason: ERROR is INTERNAL (500, the
// engine's error_message), CANCELLED (model unloaded, server shutting down) is UNAVAILABLE
// (503), which the openai SDKs retry on their own for non-streamed requests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/http/openai/chat_request.h"
#include "server/http/openai/completion_request.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server::openai {

enum class ApiKind { kChat, kCompletion };

struct ResponseOptions {
  ApiKind kind = ApiKind::kChat;
  // Echoed as `model`. Empty: the `model` of the first Generate message.
  std::string model;
  // Response id. Empty: "chatcmpl-" or "cmpl-" and the first message's request_id.
  std::string id;
  // Unix seconds. Unset: the first message's `created` (0 if it has none).
  std::optional<int64_t> created;
  // Sent when set (OpenAI's backend configuration tag).
  std::optional<std::string> system_fingerprint;
  // Choices per prompt and number of prompts (completions may have several; each prompt is one
  // Generate stream). Choice indices run from 0 to n * num_prompts - 1.
  int32_t n = 1;
  int32_t num_prompts = 1;
  // Put logprobs in choices (the request asked for them).
  bool logprobs = false;
  // Streaming only: end with a chunk that has `usage` and no choices; other chunks then carry
  // "usage": null, as OpenAI's do.
  bool include_usage = false;
};

// Options for a parsed request; the caller may still set id, created and system_fingerprint.
ResponseOptions ResponseOptionsFor(const ChatCompletionRequest& request);
ResponseOptions ResponseOptionsFor(const CompletionRequest& request);

// "stop" or "length" for a normal end; null for UNSPECIFIED, CANCELLED and ERROR.
nlohmann::json FinishReasonJson(v1::FinishReason reason);

// OK unless `message` ends its choice in a way OpenAI cannot express (see above).
absl::Status ChoiceEndStatus(const v1::GenerateResponse& message);

// {"prompt_tokens", "completion_tokens", "total_tokens"}, and "prompt_tokens_details":
// {"cached_tokens"} when some prompt tokens came from the prefix cache.
nlohmann::json UsageJson(const v1::Usage& usage);

// Adds `from` to `to` (usage of several prompts' streams).
void AddUsage(const v1::Usage& from, v1::Usage* to);

// The id, object, created, model and system_fingerprint of every chunk or response, fixed at the
// first Generate message so all chunks agree.
class Envelope {
 public:
  explicit Envelope(const ResponseOptions& options);
  void Observe(const v1::GenerateResponse& message);
  // {"id", "object", "created", "model"[, "system_fingerprint"]}.
  nlohmann::json Json(const char* object) const;

 private:
  ResponseOptions options_;  // a copy: owners may be moved
  bool observed_ = false;
  std::string id_;
  int64_t created_ = 0;
  std::string model_;
};

// The response-wide choice index of `message` from stream `prompt_index`, or -1 if it is out of
// range (a broken stream).
int32_t ChoiceIndex(const ResponseOptions& options, const v1::GenerateResponse& message,
                    int32_t prompt_index);

}  // namespace trustformers::server::openai
