// The batch queue of one encoder model. Callers submit tokenized inputs from any thread; one
// owner thread takes requests in arrival order, packs inputs from as many requests as fit a
// token budget into one forward pass, and hands each request its rows. A request whose caller
// has gone (cancelled, deadline passed, client disconnected) is dropped before it costs compute.
//
// Ownership: Submit takes the inputs and the callback; the callback runs exactly once, on the
// owner thread (or on the caller's thread when Submit itself fails), and must not block.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/ops.h"
#include "models/bert/bert_model.h"

namespace trustformers::engine {

// What the encoder produced for one input.
struct EncoderOutput {
  // The pooled embedding (not normalised; callers decide).
  std::vector<float> embedding;
  // Classification logits; empty for models without a head.
  std::vector<float> logits;
  int32_t token_count = 0;
};

struct EncoderQueueOptions {
  // Tokens in one forward pass; a single request larger than this runs in chunks of inputs.
  int64_t max_batch_tokens = 16384;
  // Requests waiting at once; beyond it Submit answers RESOURCE_EXHAUSTED.
  int64_t max_queued_requests = 1024;
};

// Running totals for metrics, readable from any thread.
struct EncoderQueueCounters {
  int64_t queued = 0;
  int64_t running = 0;  // requests in the batch being computed
  int64_t requests_finished = 0;
  int64_t requests_cancelled = 0;
  int64_t forward_passes = 0;
  int64_t tokens = 0;
};

class EncoderQueue {
 public:
  using Done = std::function<void(absl::StatusOr<std::vector<EncoderOutput>>)>;
  // Polled on the owner thread right before the request's batch runs.
  using IsCancelled = std::function<bool()>;

  // `model` must outlive the queue.
  EncoderQueue(const models::BertModel* model, EncoderQueueOptions options);
  // Finishes every queued request, then joins the owner thread.
  ~EncoderQueue();

  EncoderQueue(const EncoderQueue&) = delete;
  EncoderQueue& operator=(const EncoderQueue&) = delete;

  // RESOURCE_EXHAUSTED (with the queue length) when full; otherwise `done` runs later.
  absl::Status Submit(std::vector<models::EncoderInput> inputs, backends::PoolingMode pooling,
                      IsCancelled cancelled, Done done);

  // Requests waiting, for metrics and tests.
  int64_t queued() const;
  EncoderQueueCounters counters() const;

 private:
  struct Request {
    std::vector<models::EncoderInput> inputs;
    backends::PoolingMode pooling = backends::PoolingMode::kMean;
    IsCancelled cancelled;
    Done done;
    int64_t tokens = 0;
  };

  void Run();
  void RunBatch(std::vector<Request>& batch);
  void RunLive(std::vector<Request>& batch, bool isolate_failures);

  const models::BertModel* model_;
  EncoderQueueOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::atomic<int64_t> running_{0}, finished_{0}, cancelled_{0}, passes_{0}, tokens_{0};
  std::thread owner_;
};

}  // namespace trustformers::engine
