// A Generate call while the scheduler runs it (GenerationRequest) and each of its choices
// (Sequence): the tokens so far, the KV rows they own in the paged pool, and the sampling, stop
// and detokenizing state that turns each step's logits into streamed chunks.
//
// A sequence's tokens are the prompt followed by what it generated. The model has seen
// tokens[0, kv.length()); the rest are pending: the prompt (or part of it) before the first
// step, one sampled token while decoding, or everything again after a preemption dropped its KV
// rows. So prefill, decode and recompute are one operation: feed pending tokens, and when the last
// one was fed, sample from its logits.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/generation/generate_types.h"
#include "engine/kv_cache.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_checker.h"
#include "tokenizers/causal_tokenizer.h"
#include "tokenizers/streaming_decoder.h"

namespace trustformers::engine {

using Clock = std::chrono::steady_clock;

// What sequences need from the model they run on.
struct DecoderVocabulary {
  const tokenizers::CausalTokenizer* tokenizer = nullptr;
  std::vector<uint32_t> end_of_generation_ids;
  int32_t vocab_size = 0;
  int64_t context_length = 0;
};

class GenerationRequest {
 public:
  GenerationRequest(GenerateCall call, std::vector<int32_t> prompt_ids, std::string prompt_text,
                    std::shared_ptr<GenerateSink> sink, uint64_t arrival);

  const GenerateCall& call() const { return call_; }
  const SamplingParams& params() const { return call_.params; }
  const std::vector<int32_t>& prompt() const { return prompt_ids_; }
  const std::string& prompt_text() const { return prompt_text_; }
  GenerateSink& sink() { return *sink_; }
  int32_t priority() const { return call_.priority; }
  uint64_t arrival() const { return arrival_; }
  Clock::time_point accepted() const { return accepted_; }
  int32_t choices() const;
  // Echo with logprobs: every prompt position's logits are needed, so no cached prefix is used.
  bool wants_prompt_logits() const;

  // The client left or the deadline passed.
  bool Cancelled() { return sink_->Cancelled(); }

  // Per-request accounting, on the scheduler's thread.
  GenerateUsage usage;
  bool first_token_seen = false;
  int32_t choices_done = 0;
  // Logits of every prompt position, gathered while prefilling when wants_prompt_logits().
  std::vector<float> prompt_logits;
  // Set when the first choice was admitted to the running batch for the first time: the request
  // left the queue that max_queued_requests limits.
  bool admitted = false;
  // Set once choices beyond the first were created from the first one's prefill.
  bool forked = false;
  // OnDone was sent.
  bool done = false;
  // The last token time per choice index, for inter-token latency.
  std::vector<Clock::time_point> last_token_at;

 private:
  GenerateCall call_;
  std::vector<int32_t> prompt_ids_;
  std::string prompt_text_;
  std::shared_ptr<GenerateSink> sink_;
  uint64_t arrival_;
  Clock::time_point accepted_;
};

// Latencies a sequence reports to the scheduler's metrics.
struct TokenTiming {
  // Set on the request's first generated token.
  std::optional<std::chrono::nanoseconds> time_to_first_token;
  // Set on later tokens of a choice.
  std::optional<std::chrono::nanoseconds> inter_token;
};

class Sequence {
 public:
  Sequence(std::shared_ptr<GenerationRequest> request, int32_t choice,
           const DecoderVocabulary* vocabulary, std::unique_ptr<PagedSequenceKv> kv);

  GenerationRequest& request() { return *request_; }
  const std::shared_ptr<GenerationRequest>& shared_request() const { return request_; }
  int32_t choice() const { return choice_; }
  PagedSequenceKv& kv() { return *kv_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Tokens the model has not seen yet.
  std::span<const int32_t> pending() const;
  int64_t pending_count() const;
  bool finished() const { return finished_; }
  // Still inside the prompt (the first logits not sampled yet).
  bool prefilling() const { return !sampled_any_ && !finished_; }
  // Position limit: prompt + max_tokens, within the context.
  int64_t max_positions() const { return max_positions_; }

  // A copy for choice `choice` after this sequence's prefill (shares the KV prompt blocks).
  // RESOURCE_EXHAUSTED when the pool cannot copy the last partial block.
  absl::StatusOr<std::unique_ptr<Sequence>> Fork(int32_t choice) const;
  // A fresh sequence for `choice` that recomputes the prompt itself (when Fork had no block).
  std::unique_ptr<Sequence> Restart(int32_t choice, std::unique_ptr<PagedSequenceKv> kv) const;

  // Sends the echoed prompt (with its logprobs when asked) as this choice's first chunk.
  absl::Status EmitEcho(std::span<const float> prompt_logits);
  bool echoed() const { return echoed_; }

  // The logits after the last pending token: samples, streams the chunk, and either appends the
  // token as pending or ends the choice. Returns the latencies to record.
  TokenTiming OnLogits(std::span<const float> logits);

  // Ends the choice from outside (cancelled, model error) with a finish chunk.
  void Finish(ChoiceFinish finish, std::string error = {});

  // Drops the KV rows (preemption); the tokens stay, to be recomputed.
  void DropKv() { kv_->Clear(); }

 private:
  void End(GenerateChunk chunk, ChoiceFinish finish);

  std::shared_ptr<GenerationRequest> request_;
  int32_t choice_;
  const DecoderVocabulary* vocabulary_;
  std::unique_ptr<PagedSequenceKv> kv_;
  std::vector<int32_t> tokens_;
  int64_t max_positions_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<StopChecker> stops_;
  std::unique_ptr<tokenizers::StreamingDecoder> text_;
  bool sampled_any_ = false;
  bool finished_ = false;
  bool echoed_ = false;
};

}  // namespace trustformers::engine
