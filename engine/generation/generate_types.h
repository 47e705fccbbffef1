// What a Generate request gives the decoder engine and what the engine streams back: the
// engine's mirror of trustformers.v1 GenerateRequest / GenerateResponse without the proto (the
// server layer converts).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/stop_checker.h"
#include "nlohmann/json.hpp"

namespace trustformers::engine {

struct GenerateInput {
  enum class Kind { kPrompt, kMessages, kTokenIds };
  Kind kind = Kind::kPrompt;
  std::string prompt;
  // A JSON array of {"role", "content", ...} objects, as chat templates expect.
  nlohmann::json messages = nlohmann::json::array();
  std::vector<int32_t> token_ids;
  // Unset: true for a prompt, false for messages (the template writes them).
  std::optional<bool> add_special_tokens;
  // Messages only. Unset: true.
  std::optional<bool> add_generation_prompt;
  // Messages only: extra template variables (a JSON object).
  nlohmann::json template_kwargs = nlohmann::json::object();
};

// What to do with a prompt that leaves no room for max_tokens (or one token) in the context.
enum class PromptTruncation { kNone, kKeepEnd, kKeepStart };

struct GenerateCall {
  GenerateInput input;
  PromptTruncation truncation = PromptTruncation::kNone;
  SamplingParams params;
  // Unset in the request: until an end condition or the context is full.
  bool max_tokens_set = false;
  // Lower values are scheduled sooner; equal values in arrival order.
  int32_t priority = 0;
  // Fields the request left unset: the engine fills them from the model's generation_config.json
  // when it has one (params then holds the proto's defaults until it does).
  struct Unset {
    bool temperature = false;
    bool top_k = false;
    bool top_p = false;
    bool min_p = false;
    bool typical_p = false;
    bool repetition_penalty = false;
  } unset;
};

// Why a choice ended; kNone while it goes on.
enum class ChoiceFinish { kNone, kStop, kLength, kStopSequence, kCancelled, kError };

struct AlternativeLogprob {
  int32_t token_id = 0;
  std::string token_bytes;
  float logprob = 0;
};

struct GeneratedTokenLogprob {
  int32_t token_id = 0;
  std::string token_bytes;
  // Unset for the first token of an echoed prompt, which has no context.
  std::optional<float> logprob;
  std::vector<AlternativeLogprob> top;
};

// One streamed piece of one choice.
struct GenerateChunk {
  int32_t index = 0;
  // New text since this choice's previous chunk: whole UTF-8 characters.
  std::string text;
  std::vector<int32_t> token_ids;
  // With logprobs requested: one per token id.
  std::vector<GeneratedTokenLogprob> logprobs;
  ChoiceFinish finish = ChoiceFinish::kNone;
  std::optional<std::string> matched_stop;
  // The echoed prompt rather than generated output.
  bool echo = false;
  // With kError: what went wrong.
  std::string error;
};

struct GenerateUsage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // over all choices
  std::chrono::nanoseconds time_to_first_token{0};
};

// Where the engine sends a request's output. Called on the engine's thread, in order: OnChunk
// for every chunk, then OnDone exactly once. A non-OK status in OnDone means the request failed
// before any chunk was sent (validation is done before that, so a running request ends with
// per-choice kError chunks instead). Implementations must not block for long: the engine thread
// serves every request of the model.
class GenerateSink {
 public:
  virtual ~GenerateSink() = default;
  virtual void OnChunk(GenerateChunk chunk) = 0;
  virtual void OnDone(absl::Status status, const GenerateUsage& usage) = 0;
  // Polled between steps: the client went away or the deadline passed.
  virtual bool Cancelled() = 0;
};

}  // namespace trustformers::engine
