#include "engine/encoder_queue.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/ops.h"

namespace trustformers::engine {

EncoderQueue::EncoderQueue(const models::BertModel* model, EncoderQueueOptions options)
    : model_(model), options_(options), owner_([this] { Run(); }) {}

EncoderQueue::~EncoderQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  owner_.join();
}

int64_t EncoderQueue::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

absl::Status EncoderQueue::Submit(std::vector<models::EncoderInput> inputs,
                                  backends::PoolingMode pooling, IsCancelled cancelled, Done done) {
  if (inputs.empty()) return absl::InvalidArgumentError("the request has no inputs");
  Request request{std::move(inputs), pooling, std::move(cancelled), std::move(done), 0};
  // A bad input is refused here, alone, so it can never fail the batch it would have joined.
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (absl::Status s = model_->ValidateInput(request.inputs[i]); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("input ", i, ": ", s.message()));
    }
    request.tokens += static_cast<int64_t>(request.inputs[i].ids.size());
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::UnavailableError("the model is shutting down");
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queued_requests) {
      return absl::ResourceExhaustedError(absl::StrCat("the encoder queue is full (", queue_.size(),
                                                       " requests waiting); retry shortly"));
    }
    queue_.push_back(std::move(request));
  }
  wake_.notify_one();
  return absl::OkStatus();
}

void EncoderQueue::Run() {
  while (true) {
    std::vector<Request> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has been served
      int64_t tokens = 0;
      // FIFO: take requests while they fit the budget; the first one is always taken.
      while (!queue_.empty() &&
             (batch.empty() || tokens + queue_.front().tokens <= options_.max_batch_tokens)) {
        tokens += queue_.front().tokens;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    running_ = static_cast<int64_t>(batch.size());
    RunBatch(batch);
    finished_ += static_cast<int64_t>(batch.size());
    running_ = 0;
  }
}

EncoderQueueCounters EncoderQueue::counters() const {
  EncoderQueueCounters c;
  c.queued = queued();
  c.running = running_.load();
  c.requests_finished = finished_.load();
  c.requests_cancelled = cancelled_.load();
  c.forward_passes = passes_.load();
  c.tokens = tokens_.load();
  return c;
}

void EncoderQueue::RunBatch(std::vector<Request>& batch) {
  RunLive(batch, /*isolate_failures=*/true);
}

void EncoderQueue::RunLive(std::vector<Request>& batch, bool isolate_failures) {
  backends::SetCpuThreads(backends::InferenceCpuThreads());  // cores a training job holds aside
  std::vector<Request*> live;
  for (Request& request : batch) {
    if (request.cancelled && request.cancelled()) {
      ++cancelled_;
      request.done(absl::CancelledError("the caller went away before the request ran"));
    } else {
      live.push_back(&request);
    }
  }
  // Inputs of all live requests, in order, cut into forward passes of at most the token budget.
  std::vector<std::pair<Request*, size_t>> order;
  for (Request* request : live) {
    for (size_t i = 0; i < request->inputs.size(); ++i) order.emplace_back(request, i);
  }
  std::vector<std::vector<EncoderOutput>> outputs(live.size());
  std::vector<absl::Status> failures(live.size());
  for (size_t r = 0; r < live.size(); ++r) outputs[r].resize(live[r]->inputs.size());
  auto index_of = [&](const Request* request) {
    return static_cast<size_t>(std::find(live.begin(), live.end(), request) - live.begin());
  };

  size_t next = 0;
  while (next < order.size()) {
    std::vector<models::EncoderInput> inputs;
    std::vector<std::pair<Request*, size_t>> owners;
    int64_t tokens = 0;
    while (next < order.size()) {
      const models::EncoderInput& input = order[next].first->inputs[order[next].second];
      const int64_t len = static_cast<int64_t>(input.ids.size());
      if (!inputs.empty() && tokens + len > options_.max_batch_tokens) break;
      tokens += len;
      inputs.push_back(input);
      owners.push_back(order[next]);
      ++next;
    }
    backends::SequenceOffsets offsets;
    ++passes_;
    tokens_ += tokens;
    absl::StatusOr<backends::Tensor> hidden = model_->Forward(inputs, &offsets);
    absl::StatusOr<backends::Tensor> logits = (hidden.ok() && model_->has_classifier())
                                                  ? model_->ClassifierLogits(*hidden, offsets)
                                                  : absl::StatusOr<backends::Tensor>();
    const absl::Status status =
        !hidden.ok()
            ? hidden.status()
            : (model_->has_classifier() && !logits.ok() ? logits.status() : absl::OkStatus());
    for (size_t i = 0; i < owners.size(); ++i) {
      const size_t r = index_of(owners[i].first);
      if (!status.ok()) {
        failures[r] = status;
        continue;
      }
      EncoderOutput& out = outputs[r][owners[i].second];
      // Each request pools its own rows in its own mode.
      const int64_t begin = offsets[i], end = offsets[i + 1];
      absl::StatusOr<backends::Tensor> pooled =
          backends::Pool(hidden->Rows(begin, end), {0, end - begin}, owners[i].first->pooling);
      if (!pooled.ok()) {
        failures[r] = pooled.status();
        continue;
      }
      out.embedding.assign(pooled->data<float>(), pooled->data<float>() + pooled->dim(1));
      if (model_->has_classifier()) {
        const int64_t labels = logits->dim(1);
        const float* l = logits->data<float>() + static_cast<int64_t>(i) * labels;
        out.logits.assign(l, l + labels);
      }
      out.token_count = static_cast<int32_t>(inputs[i].ids.size());
    }
  }
  const bool any_failed =
      std::any_of(failures.begin(), failures.end(), [](const absl::Status& s) { return !s.ok(); });
  if (any_failed && isolate_failures && live.size() > 1) {
    // Inputs were validated on submission, so this is a fault inside the forward pass; run each
    // request alone so one request's fault cannot fail its neighbours.
    for (Request* request : live) {
      std::vector<Request> alone;
      alone.push_back(std::move(*request));
      RunLive(alone, /*isolate_failures=*/false);
    }
    return;
  }
  for (size_t r = 0; r < live.size(); ++r) {
    if (!failures[r].ok()) {
      live[r]->done(failures[r]);
    } else {
      live[r]->done(std::move(outputs[r]));
    }
  }
}

}  // namespace trustformers::engine
