#include "engine/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "backends/ops.h"

namespace trustformers::engine {
namespace {

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

void Observe(Histogram* histogram, double value) {
  if (histogram != nullptr) histogram->Observe(value);
}

// Lower priority values run first; then earlier arrivals; then lower choice indices.
bool RunsBefore(const Sequence& a, const Sequence& b) {
  const auto& ra = a.shared_request();
  const auto& rb = b.shared_request();
  if (ra->priority() != rb->priority()) return ra->priority() < rb->priority();
  if (ra->arrival() != rb->arrival()) return ra->arrival() < rb->arrival();
  return a.choice() < b.choice();
}

}  // namespace

Scheduler::Scheduler(const models::DecoderModel* model, const DecoderVocabulary* vocabulary,
                     std::unique_ptr<KvBlockPool> pool, SchedulerOptions options,
                     SchedulerHistograms histograms)
    : model_(model),
      vocabulary_(vocabulary),
      pool_(std::move(pool)),
      options_(options),
      histograms_(histograms),
      thread_([this] { Run(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

absl::Status Scheduler::Submit(std::shared_ptr<GenerationRequest> request) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::UnavailableError("the model is shutting down");
    // Requests never admitted yet: new ones plus those in the owner thread's waiting list (not
    // the preempted sequences or the choices waiting there: their requests left the queue).
    const int64_t queued = static_cast<int64_t>(submitted_.size()) + queued_waiting_.load();
    if (queued >= options_.max_queued_requests) {
      return absl::ResourceExhaustedError(absl::StrCat("the generation queue is full (", queued,
                                                       " requests waiting, ", running_count_.load(),
                                                       " running); retry shortly"));
    }
    submitted_.push_back(std::move(request));
  }
  wake_.notify_one();
  return absl::OkStatus();
}

SchedulerCounters Scheduler::counters() const {
  SchedulerCounters c;
  c.running = running_count_.load();
  c.waiting = waiting_count_.load();
  {
    std::lock_guard lock(mutex_);
    c.queued_requests = static_cast<int64_t>(submitted_.size());
  }
  c.waiting += c.queued_requests;
  c.queued_requests += queued_waiting_.load();
  c.requests_finished = requests_finished_.load();
  c.prompt_tokens = prompt_tokens_.load();
  c.generation_tokens = generation_tokens_.load();
  c.preemptions = preemptions_.load();
  c.steps = steps_.load();
  c.kv_blocks_total = pool_->total_blocks();
  c.kv_blocks_free = pool_->free_blocks();
  c.kv_blocks_used = pool_->used_blocks();
  c.prefix_hits = pool_->prefix_hits();
  c.prefix_misses = pool_->prefix_misses();
  return c;
}

std::unique_ptr<PagedSequenceKv> Scheduler::NewKv(const GenerationRequest& request) const {
  const auto prompt = static_cast<int64_t>(request.prompt().size());
  const int64_t limit = std::min(vocabulary_->context_length,
                                 prompt + std::max<int64_t>(request.params().max_tokens, 1));
  return std::make_unique<PagedSequenceKv>(pool_.get(), limit);
}

void Scheduler::Run() {
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !submitted_.empty() || !running_.empty() || !waiting_.empty();
      });
      stopping = stopping_;
      TakeSubmitted();
    }
    DropCancelled(stopping);
    Retire();
    if (stopping && running_.empty() && waiting_.empty()) return;
    Admit();
    PublishCounts();
    Step();
    Retire();
    PublishCounts();
  }
}

void Scheduler::PublishCounts() {
  running_count_ = static_cast<int64_t>(running_.size());
  waiting_count_ = static_cast<int64_t>(waiting_.size());
  queued_waiting_ = std::count_if(waiting_.begin(), waiting_.end(), [](const auto& sequence) {
    return sequence->choice() == 0 && !sequence->shared_request()->admitted &&
           !sequence->finished();
  });
}

void Scheduler::TakeSubmitted() {
  while (!submitted_.empty()) {
    std::shared_ptr<GenerationRequest> request = std::move(submitted_.front());
    submitted_.pop_front();
    prompt_tokens_ += static_cast<int64_t>(request->prompt().size());
    std::unique_ptr<PagedSequenceKv> kv = NewKv(*request);
    waiting_.push_back(std::make_unique<Sequence>(request, 0, vocabulary_, std::move(kv)));
  }
  PublishCounts();
}

void Scheduler::EndSequence(Sequence& sequence, ChoiceFinish finish, const std::string& error) {
  GenerationRequest& request = sequence.request();
  sequence.Finish(finish, error);
  // The first choice ended before the others were created: they end the same way.
  if (sequence.choice() == 0 && !request.forked) {
    request.forked = true;
    for (int32_t c = 1; c < request.choices(); ++c) {
      GenerateChunk chunk;
      chunk.index = c;
      chunk.finish = finish;
      chunk.error = error;
      ++request.choices_done;
      request.sink().OnChunk(std::move(chunk));
    }
  }
}

void Scheduler::DropCancelled(bool stopping) {
  for (auto* list : {&running_, &waiting_}) {
    for (std::unique_ptr<Sequence>& sequence : *list) {
      if (sequence->finished()) continue;
      // A stopping engine (unload, shutdown) cancels like a client that went away.
      if (stopping || sequence->request().Cancelled()) {
        EndSequence(*sequence, ChoiceFinish::kCancelled, "");
      }
    }
  }
}

void Scheduler::SortWaiting() {
  std::stable_sort(waiting_.begin(), waiting_.end(),
                   [](const auto& a, const auto& b) { return RunsBefore(*a, *b); });
}

void Scheduler::Admit() {
  SortWaiting();
  size_t i = 0;
  while (i < waiting_.size() &&
         static_cast<int64_t>(running_.size()) < options_.max_running_sequences) {
    Sequence& sequence = *waiting_[i];
    if (sequence.finished()) {
      ++i;
      continue;
    }
    if (sequence.kv().length() == 0 && options_.prefix_caching &&
        !sequence.request().wants_prompt_logits()) {
      // Counted once admitted: a sequence that does not fit tries again every step.
      sequence.kv().AttachPrefix(sequence.tokens(), /*count=*/false);
    }
    // The whole prompt's rows are reserved now, so a prefill never stops halfway for want of
    // blocks; decoding grows a block at a time.
    const absl::Status reserved = sequence.kv().Reserve(sequence.pending_count());
    if (!reserved.ok()) {
      sequence.kv().Clear();
      if (running_.empty()) {
        // Nothing runs that could free blocks: this sequence can never fit.
        EndSequence(sequence, ChoiceFinish::kError,
                    absl::StrCat("the request does not fit in the KV cache: ", reserved.message()));
        ++i;
        continue;
      }
      break;  // in order: a large request is not overtaken for ever by small ones
    }
    sequence.kv().CountAttach();
    sequence.request().admitted = true;
    running_.push_back(std::move(waiting_[i]));
    waiting_.erase(waiting_.begin() + static_cast<ptrdiff_t>(i));
  }
}

Sequence* Scheduler::Preempt(const Sequence* needy) {
  Sequence* victim = nullptr;
  bool others = false;
  for (const std::unique_ptr<Sequence>& sequence : running_) {
    if (sequence->finished()) continue;
    others = others || sequence.get() != needy;
    if (victim == nullptr || RunsBefore(*victim, *sequence)) victim = sequence.get();
  }
  if (!others) return nullptr;
  victim->DropKv();
  GenerationRequest& request = victim->request();
  if (victim->choice() == 0 && !request.forked) request.prompt_logits.clear();
  ++preemptions_;
  auto it = std::find_if(running_.begin(), running_.end(),
                         [&](const auto& s) { return s.get() == victim; });
  waiting_.push_back(std::move(*it));
  running_.erase(it);
  return victim;
}

bool Scheduler::Step() {
  struct Planned {
    Sequence* sequence;
    int64_t count;
    bool all_logits;
  };
  std::vector<Planned> planned;
  int64_t budget = options_.max_batch_tokens;

  // Decoding sequences first, one token each: they must never wait behind a long prompt.
  std::vector<Sequence*> decoding;
  for (const std::unique_ptr<Sequence>& sequence : running_) {
    if (!sequence->finished() && sequence->pending_count() == 1) decoding.push_back(sequence.get());
  }
  auto is_running = [this](const Sequence* sequence) {
    return std::any_of(running_.begin(), running_.end(),
                       [&](const auto& s) { return s.get() == sequence; });
  };
  for (Sequence* sequence : decoding) {
    if (budget == 0) break;
    if (!is_running(sequence)) continue;  // preempted for an earlier one
    absl::Status grown = sequence->kv().Reserve(1);
    bool gave_way = false;
    while (!grown.ok() && grown.code() == absl::StatusCode::kResourceExhausted) {
      const Sequence* victim = Preempt(sequence);
      if (victim == nullptr) break;  // alone in the pool: it can never fit
      if (victim == sequence) {
        gave_way = true;  // it runs after every other one: it waits, they keep their blocks
        break;
      }
      grown = sequence->kv().Reserve(1);
    }
    if (gave_way) continue;
    if (!grown.ok()) {
      EndSequence(*sequence, ChoiceFinish::kError, std::string(grown.message()));
      continue;
    }
    planned.push_back({sequence, 1, false});
    --budget;
  }
  // A sequence planned early may have been preempted for a later one; its token goes back to
  // the budget.
  std::erase_if(planned, [&](const Planned& p) { return !is_running(p.sequence); });
  budget = options_.max_batch_tokens - static_cast<int64_t>(planned.size());
  // Then prompt chunks, in admission order, within the token budget.
  for (const std::unique_ptr<Sequence>& sequence : running_) {
    if (budget == 0) break;
    if (sequence->finished() || sequence->pending_count() <= 1) continue;
    const int64_t count =
        std::min({sequence->pending_count(), options_.prefill_chunk_tokens, budget});
    const bool prompt_logits = sequence->request().wants_prompt_logits() &&
                               sequence->choice() == 0 && !sequence->request().forked;
    planned.push_back({sequence.get(), count, prompt_logits});
    budget -= count;
  }
  if (planned.empty()) return false;

  std::vector<models::DecoderModel::SequenceStep> steps;
  steps.reserve(planned.size());
  for (const Planned& p : planned) {
    steps.push_back({p.sequence->pending().subspan(0, static_cast<size_t>(p.count)),
                     &p.sequence->kv(), p.all_logits,
                     static_cast<int64_t>(p.sequence->request().prompt().size())});
  }
  const Clock::time_point started = Clock::now();
  std::vector<float> logits;
  backends::SetCpuThreads(backends::InferenceCpuThreads());  // cores a training job holds aside
  const absl::Status ran = model_->ForwardBatch(steps, &logits);
  ++steps_;
  Observe(histograms_.step_seconds, Seconds(Clock::now() - started));
  Observe(histograms_.batch_tokens, static_cast<double>(options_.max_batch_tokens - budget));
  if (!ran.ok()) {
    for (const Planned& p : planned) {
      EndSequence(*p.sequence, ChoiceFinish::kError, std::string(ran.message()));
    }
    return true;
  }

  const auto vocab = static_cast<size_t>(vocabulary_->vocab_size);
  size_t row = 0;
  for (const Planned& p : planned) {
    Sequence& sequence = *p.sequence;
    const size_t rows = p.all_logits ? static_cast<size_t>(p.count) : 1;
    const std::span<const float> mine(logits.data() + row * vocab, rows * vocab);
    row += rows;
    if (options_.prefix_caching) {
      sequence.kv().PublishFullBlocks(std::span<const int32_t>(sequence.tokens())
                                          .subspan(0, static_cast<size_t>(sequence.kv().length())));
    }
    GenerationRequest& request = sequence.request();
    if (p.all_logits) {
      request.prompt_logits.insert(request.prompt_logits.end(), mine.begin(), mine.end());
    }
    if (sequence.pending_count() > 0) continue;  // more of the prompt to go
    const std::span<const float> last = mine.subspan(mine.size() - vocab, vocab);
    if (sequence.prefilling()) {
      if (sequence.choice() == 0 && !request.forked) StartChoices(sequence, last);
      if (request.params().echo_prompt && !sequence.echoed()) {
        if (absl::Status s = sequence.EmitEcho(request.prompt_logits); !s.ok()) {
          EndSequence(sequence, ChoiceFinish::kError, std::string(s.message()));
          continue;
        }
      }
    }
    const TokenTiming timing = sequence.OnLogits(last);
    if (timing.time_to_first_token) {
      Observe(histograms_.time_to_first_token, Seconds(*timing.time_to_first_token));
    }
    if (timing.inter_token) Observe(histograms_.inter_token_latency, Seconds(*timing.inter_token));
  }
  return true;
}

void Scheduler::StartChoices(Sequence& first, std::span<const float> logits) {
  GenerationRequest& request = first.request();
  request.forked = true;
  for (int32_t c = 1; c < request.choices(); ++c) {
    // Choices count against max_running_sequences like requests do. One beyond it, or one with
    // no block for the copy now, recomputes the prompt (its full blocks are likely still cached)
    // once there is room; it holds no blocks while it waits.
    if (static_cast<int64_t>(running_.size()) >= options_.max_running_sequences) {
      waiting_.push_back(first.Restart(c, NewKv(request)));
      continue;
    }
    absl::StatusOr<std::unique_ptr<Sequence>> fork = first.Fork(c);
    if (!fork.ok()) {
      waiting_.push_back(first.Restart(c, NewKv(request)));
      continue;
    }
    Sequence& sequence = **fork;
    if (request.params().echo_prompt) {
      if (absl::Status s = sequence.EmitEcho(request.prompt_logits); !s.ok()) {
        sequence.Finish(ChoiceFinish::kError, std::string(s.message()));
        running_.push_back(*std::move(fork));
        continue;
      }
    }
    const TokenTiming timing = sequence.OnLogits(logits);
    if (timing.inter_token) Observe(histograms_.inter_token_latency, Seconds(*timing.inter_token));
    running_.push_back(*std::move(fork));
  }
}

void Scheduler::Retire() {
  for (auto* list : {&running_, &waiting_}) {
    std::erase_if(*list, [this](const std::unique_ptr<Sequence>& sequence) {
      if (!sequence->finished()) return false;
      GenerationRequest& request = sequence->request();
      if (!request.done && request.choices_done == request.choices()) {
        request.done = true;
        generation_tokens_ += request.usage.completion_tokens;
        ++requests_finished_;
        request.sink().OnDone(absl::OkStatus(), request.usage);
      }
      return true;
    });
  }
}

}  // namespace trustformers::engine
