// Continuous batching for one decoder model: one owner thread runs steps, and every step is one
// batched forward pass over the tokens of many sequences. New requests join and finished ones
// leave at every step; long prompts are prefilled in chunks under a per-step token budget so the
// sequences already decoding keep getting a token each step; KV rows live in a paged pool with
// prefix caching. When the pool runs out, the running sequence of the lowest priority that
// arrived last (which may be the one short of a block) gives its blocks back and is recomputed
// later, so no request fails because others are running, and a more important one never gives
// way to a less important one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/generation/sequence.h"
#include "engine/kv_cache.h"
#include "engine/metrics.h"
#include "models/decoder_model.h"

namespace trustformers::engine {

struct SchedulerOptions {
  // Requests waiting for their first admission at once; beyond it Submit answers
  // RESOURCE_EXHAUSTED. Preempted sequences and choices waiting for room do not count.
  int64_t max_queued_requests = 256;
  // Sequences (choices) in the running batch at once.
  int64_t max_running_sequences = 64;
  // Tokens in one forward pass: every decoding sequence's one token, then prompt chunks.
  int64_t max_batch_tokens = 256;
  // Prompt tokens one sequence may prefill in one step.
  int64_t prefill_chunk_tokens = 256;
  // Reuse the KV rows of full blocks whose whole prefix was computed before.
  bool prefix_caching = true;
};

// Running totals and gauges, readable from any thread (metrics).
struct SchedulerCounters {
  int64_t running = 0;  // sequences in the batch
  int64_t waiting = 0;  // sequences waiting for admission (new, preempted, or unforked choices)
  int64_t queued_requests = 0;  // requests never admitted yet (what max_queued_requests limits)
  int64_t requests_finished = 0;
  int64_t prompt_tokens = 0;
  int64_t generation_tokens = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_free = 0;
  int64_t prefix_hits = 0;
  int64_t prefix_misses = 0;
};

// Where latencies go; any member may be null.
struct SchedulerHistograms {
  Histogram* time_to_first_token = nullptr;
  Histogram* inter_token_latency = nullptr;
  Histogram* step_seconds = nullptr;
  Histogram* batch_tokens = nullptr;
};

class Scheduler {
 public:
  // `model` and `vocabulary` must outlive the scheduler. Starts the owner thread.
  Scheduler(const models::DecoderModel* model, const DecoderVocabulary* vocabulary,
            std::unique_ptr<KvBlockPool> pool, SchedulerOptions options,
            SchedulerHistograms histograms = {});
  // Cancels every queued and running request (their choices end with kCancelled), then stops.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a validated request; RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when
  // stopping. On OK the request's sink gets its output on the owner thread.
  absl::Status Submit(std::shared_ptr<GenerationRequest> request);

  SchedulerCounters counters() const;
  const KvBlockPool& pool() const { return *pool_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  void Run();
  // Moves submitted requests into the waiting list (under mutex_, so Submit counts each request
  // in exactly one place).
  void TakeSubmitted();
  // Ends every sequence whose request was cancelled (or all when stopping).
  void DropCancelled(bool stopping);
  void Admit();
  // The gauges other threads read.
  void PublishCounts();
  // Builds and runs one batched step; false when there was nothing to run.
  bool Step();
  // For `needy`, which cannot grow: frees the blocks of the running sequence that runs last
  // (lowest priority, latest arrival), which may be `needy` itself, and queues it for
  // recomputation. Returns it; null when `needy` runs alone (nothing else can make room).
  Sequence* Preempt(const Sequence* needy);
  // After a prefill produced a request's first logits: the other choices, and the echo.
  void StartChoices(Sequence& first, std::span<const float> logits);
  // Ends a sequence, and the choices its request has not created yet when it was the first.
  void EndSequence(Sequence& sequence, ChoiceFinish finish, const std::string& error);
  // Removes finished sequences and completes their requests.
  void Retire();
  std::unique_ptr<PagedSequenceKv> NewKv(const GenerationRequest& request) const;
  // Orders the waiting list: priority, then arrival, then choice.
  void SortWaiting();

  const models::DecoderModel* model_;
  const DecoderVocabulary* vocabulary_;
  std::unique_ptr<KvBlockPool> pool_;
  SchedulerOptions options_;
  SchedulerHistograms histograms_;

  // Owner thread only.
  std::vector<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // in admission order

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<GenerationRequest>> submitted_;  // guarded by mutex_
  bool stopping_ = false;                                     // guarded by mutex_

  // queued_waiting_: requests in waiting_ never admitted (changes under mutex_ when they come in).
  std::atomic<int64_t> running_count_{0}, waiting_count_{0}, queued_waiting_{0},
      requests_finished_{0}, prompt_tokens_{0}, generation_tokens_{0}, preemptions_{0}, steps_{0};
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace trustformers::engine
