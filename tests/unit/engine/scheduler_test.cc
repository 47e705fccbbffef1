// The continuous-batching scheduler's decisions, checked on a fake model (fake_decoder_model.h)
// that records every step and can hold a step at a gate: who joins and leaves at which step,
// decodes before prompt chunks, token budgets, admission limits and priorities, preemption by
// recompute, prefix reuse, forked choices, cancellation, failures and shutdown. Every output is
// compared with the same request run alone on a contiguous KV cache, outside the scheduler.
// Nothing here depends on machine speed: ordering comes from the gate, not from sleeps.
#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_checker.h"
#include "unit/engine/fake_decoder_model.h"

namespace trustformers::engine {
namespace {

using testing::FakeDecoderModel;
using testing::RecordedBatch;
using testing::RecordedStep;

constexpr int64_t kBlockTokens = 16;

// Collects a request's output and checks the sink contract as it goes.
class CollectingSink : public GenerateSink {
 public:
  // cancel_after_tokens >= 0: reports Cancelled once that many tokens arrived.
  explicit CollectingSink(int64_t cancel_after_tokens = -1)
      : cancel_after_tokens_(cancel_after_tokens) {}

  void OnChunk(GenerateChunk chunk) override {
    std::lock_guard lock(mutex_);
    if (done_count_ > 0) ++chunks_after_done_;
    tokens_ += static_cast<int64_t>(chunk.token_ids.size());
    chunks_.push_back(std::move(chunk));
  }
  void OnDone(absl::Status status, const GenerateUsage& usage) override {
    std::lock_guard lock(mutex_);
    status_ = status;
    usage_ = usage;
    ++done_count_;
    wake_.notify_all();
  }
  bool Cancelled() override {
    std::lock_guard lock(mutex_);
    return cancel_after_tokens_ >= 0 && tokens_ >= cancel_after_tokens_;
  }

  // False after 20 s without OnDone (a hang, reported by the caller).
  bool Wait() {
    std::unique_lock lock(mutex_);
    return wake_.wait_for(lock, std::chrono::seconds(20), [&] { return done_count_ > 0; });
  }
  bool done() const {
    std::lock_guard lock(mutex_);
    return done_count_ > 0;
  }
  std::vector<int32_t> ids(int32_t index = 0) const {
    std::lock_guard lock(mutex_);
    std::vector<int32_t> out;
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index) out.insert(out.end(), c.token_ids.begin(), c.token_ids.end());
    }
    return out;
  }
  // The finish of choice `index`, kNone when it did not end.
  ChoiceFinish finish(int32_t index = 0) const {
    std::lock_guard lock(mutex_);
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index && c.finish != ChoiceFinish::kNone) return c.finish;
    }
    return ChoiceFinish::kNone;
  }
  std::string text(int32_t index = 0) const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index) out += c.text;
    }
    return out;
  }
  std::string error(int32_t index = 0) const {
    std::lock_guard lock(mutex_);
    for (const GenerateChunk& c : chunks_) {
      if (c.index == index && c.finish != ChoiceFinish::kNone) return c.error;
    }
    return {};
  }
  GenerateUsage usage() const {
    std::lock_guard lock(mutex_);
    return usage_;
  }
  // The contract: OnDone once with OK, after every chunk; each of `choices` ends exactly once,
  // with its last chunk.
  void CheckContract(int32_t choices) const {
    std::lock_guard lock(mutex_);
    CHECK(done_count_ == 1);
    CHECK(status_.ok());
    CHECK(chunks_after_done_ == 0);
    for (int32_t index = 0; index < choices; ++index) {
      int finishes = 0;
      bool after_finish = false;
      for (const GenerateChunk& c : chunks_) {
        if (c.index != index) continue;
        if (finishes > 0) after_finish = true;
        if (c.finish != ChoiceFinish::kNone) ++finishes;
      }
      INFO("choice " << index);
      CHECK(finishes == 1);
      CHECK_FALSE(after_finish);
    }
    for (const GenerateChunk& c : chunks_) CHECK((c.index >= 0 && c.index < choices));
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<GenerateChunk> chunks_;
  int64_t tokens_ = 0;
  int64_t cancel_after_tokens_;
  absl::Status status_;
  GenerateUsage usage_;
  int done_count_ = 0;
  int chunks_after_done_ = 0;
};

// A token-id request: greedy without a seed, else temperature 0.8 from that seed.
GenerateCall MakeCall(std::vector<int32_t> prompt, int32_t max_tokens,
                      std::optional<uint64_t> seed = std::nullopt, int32_t n = 0,
                      int32_t priority = 0) {
  GenerateCall call;
  call.input.kind = GenerateInput::Kind::kTokenIds;
  call.input.token_ids = std::move(prompt);
  call.params.max_tokens = max_tokens;
  call.max_tokens_set = true;
  call.params.ignore_eos = true;
  call.params.n = n;
  if (seed) {
    call.params.temperature = 0.8f;
    call.params.seed = *seed;
  } else {
    call.params.temperature = 0;
  }
  call.priority = priority;
  return call;
}

// `length` tokens starting with `first` (how the tests tell sequences apart in the recorded
// steps), the rest drawn from `seed` among the ordinary ids (never the end token).
std::vector<int32_t> Prompt(int32_t first, int64_t length, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, testing::kFakeEndToken - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(length));
  for (int32_t& t : prompt) t = id(rng);
  prompt[0] = first;
  return prompt;
}

// What choice `choice` of a request gives alone: the fake model on its own contiguous KV cache,
// the sampler's stream for that choice, the stop rules of the request.
std::vector<int32_t> Alone(const FakeDecoderModel& model, const GenerateCall& call,
                           int32_t choice = 0) {
  const std::vector<int32_t>& prompt = call.input.token_ids;
  const SamplingParams& params = call.params;
  const std::vector<uint32_t> eos = {static_cast<uint32_t>(testing::kFakeEndToken)};
  const auto prompt_size = static_cast<int64_t>(prompt.size());
  const int64_t max_positions = std::min(model.context_length(), prompt_size + params.max_tokens);
  models::KvCache kv = model.NewCache(max_positions);
  Sampler sampler(params, static_cast<int32_t>(model.vocab_size()), eos,
                  static_cast<uint32_t>(choice));
  sampler.SetPrompt(std::vector<uint32_t>(prompt.begin(), prompt.end()));
  StopChecker stops(params, eos);
  std::vector<int32_t> pending = prompt;
  std::vector<int32_t> out;
  for (;;) {
    std::vector<float> logits;
    const absl::Status ran = model.Forward(pending, &kv, false, &logits);
    INFO(ran.ToString());
    REQUIRE(ran.ok());
    absl::StatusOr<SampledToken> sampled = sampler.Sample(logits);
    INFO(sampled.status().ToString());
    REQUIRE(sampled.ok());
    out.push_back(static_cast<int32_t>(sampled->id));
    if (stops.Step(sampled->id, "").finish != FinishReason::kNone) break;
    if (prompt_size + static_cast<int64_t>(out.size()) - 1 >= max_positions) break;
    pending = {static_cast<int32_t>(sampled->id)};
  }
  return out;
}

// A scheduler over a fake model and a pool of `pool_blocks` blocks of kBlockTokens positions.
// Opens the gate before stopping the scheduler, so a failed check never leaves a step held.
class Harness {
 public:
  explicit Harness(SchedulerOptions options, int64_t pool_blocks = 256,
                   FakeDecoderModel::Options model_options = {})
      : model_(model_options), tokenizer_(testing::FakeTokenizer()) {
    REQUIRE(tokenizer_ != nullptr);
    vocabulary_.tokenizer = tokenizer_.get();
    vocabulary_.end_of_generation_ids = {static_cast<uint32_t>(testing::kFakeEndToken)};
    vocabulary_.vocab_size = static_cast<int32_t>(model_.vocab_size());
    vocabulary_.context_length = model_.context_length();
    const models::DecoderModel::KvShape shape = model_.kv_shape();
    const KvPoolShape pool_shape{shape.layers, shape.row_width, shape.element, kBlockTokens};
    // Rows of 8 floats pad to 32 bytes; keys and values of both layers.
    const int64_t block_bytes = shape.layers * 2 * kBlockTokens * 32;
    absl::StatusOr<std::unique_ptr<KvBlockPool>> pool =
        KvBlockPool::Create(pool_shape, pool_blocks * block_bytes);
    INFO(pool.status().ToString());
    REQUIRE(pool.ok());
    REQUIRE((*pool)->total_blocks() == pool_blocks);
    scheduler_ =
        std::make_unique<Scheduler>(&model_, &vocabulary_, *std::move(pool), std::move(options));
  }
  ~Harness() { Stop(); }

  // Submits and returns the sink; `status` gets Submit's answer when given, else it must be OK.
  std::shared_ptr<CollectingSink> Submit(const GenerateCall& call, absl::Status* status = nullptr,
                                         int64_t cancel_after_tokens = -1) {
    auto sink = std::make_shared<CollectingSink>(cancel_after_tokens);
    auto request = std::make_shared<GenerationRequest>(call, call.input.token_ids, "prompt", sink,
                                                       next_arrival_++);
    const absl::Status submitted = scheduler_->Submit(std::move(request));
    if (status != nullptr) {
      *status = submitted;
    } else {
      INFO(submitted.ToString());
      REQUIRE(submitted.ok());
    }
    return sink;
  }

  // Opens the gate and destroys the scheduler (cancelling whatever still runs).
  void Stop() {
    model_.OpenGate();
    scheduler_.reset();
  }

  FakeDecoderModel& model() { return model_; }
  Scheduler& scheduler() { return *scheduler_; }
  const tokenizers::BpeTokenizer& tokenizer() const { return *tokenizer_; }

 private:
  FakeDecoderModel model_;
  std::unique_ptr<tokenizers::BpeTokenizer> tokenizer_;
  DecoderVocabulary vocabulary_;
  std::unique_ptr<Scheduler> scheduler_;
  uint64_t next_arrival_ = 0;
};

void WaitAll(const std::vector<std::shared_ptr<CollectingSink>>& sinks) {
  for (const auto& sink : sinks) REQUIRE(sink->Wait());
}

// The steps of the sequence whose token 0 is `first`, as (batch index, step).
std::vector<std::pair<size_t, RecordedStep>> StepsOf(const std::vector<RecordedBatch>& batches,
                                                     int32_t first) {
  std::vector<std::pair<size_t, RecordedStep>> out;
  for (size_t b = 0; b < batches.size(); ++b) {
    for (const RecordedStep& s : batches[b]) {
      if (s.first_token == first) out.emplace_back(b, s);
    }
  }
  return out;
}

// Where the recorded steps show a sequence going back: a step starting before the end of the
// same KV's previous step (its rows were dropped and are computed again).
std::set<const models::SequenceKv*> Recomputed(const std::vector<RecordedBatch>& batches) {
  std::map<const models::SequenceKv*, int64_t> end;
  std::set<const models::SequenceKv*> out;
  for (const RecordedBatch& batch : batches) {
    for (const RecordedStep& s : batch) {
      auto it = end.find(s.kv);
      if (it != end.end() && s.start < it->second) out.insert(s.kv);
      end[s.kv] = s.start + s.count;
    }
  }
  return out;
}

// Polls `condition` until it holds; false after 20 s.
template <class Condition>
bool Eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Every batch within the options' limits: sequences, tokens, chunk sizes; no sequence twice.
void CheckLimits(const std::vector<RecordedBatch>& batches, const SchedulerOptions& options) {
  for (size_t b = 0; b < batches.size(); ++b) {
    INFO("batch " << b);
    const RecordedBatch& batch = batches[b];
    CHECK(static_cast<int64_t>(batch.size()) <= options.max_running_sequences);
    int64_t tokens = 0;
    std::set<const models::SequenceKv*> seen;
    for (const RecordedStep& s : batch) {
      tokens += s.count;
      CHECK(s.count <= options.prefill_chunk_tokens);
      CHECK(seen.insert(s.kv).second);
    }
    CHECK(tokens <= options.max_batch_tokens);
  }
}

TEST_CASE("batched requests give exactly what each gives alone", "[scheduler]") {
  const bool prefix_caching = GENERATE(true, false);
  INFO("prefix caching " << prefix_caching);
  SchedulerOptions options;
  options.max_running_sequences = 12;
  options.max_batch_tokens = 64;
  options.prefill_chunk_tokens = 24;
  options.prefix_caching = prefix_caching;
  Harness harness(options);
  const FakeDecoderModel reference;

  std::vector<GenerateCall> calls;
  for (int32_t i = 0; i < 32; ++i) {
    const int64_t length = 1 + (i * 37) % 90;
    const int32_t max_tokens = 1 + (i * 13) % 50;
    const std::optional<uint64_t> seed =
        i % 2 == 0 ? std::nullopt : std::optional<uint64_t>(1000 + i);
    std::vector<int32_t> prompt = Prompt(i, length, static_cast<uint32_t>(i));
    if (i >= 24) {
      // The last eight extend an earlier prompt (or repeat it): prefixes shared while running.
      prompt = calls[static_cast<size_t>(i - 24)].input.token_ids;
      for (int32_t extra = 0; extra < i % 5; ++extra) prompt.push_back(extra);
    }
    GenerateCall call = MakeCall(std::move(prompt), max_tokens, seed);
    // Some stop at the end token before max_tokens.
    call.params.ignore_eos = i % 3 != 0;
    calls.push_back(std::move(call));
  }
  // The rest arrive while the first one's first step is held, so they are batched whatever the
  // machine's speed.
  harness.model().CloseGate();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (const GenerateCall& call : calls) {
    sinks.push_back(harness.Submit(call));
    if (sinks.size() == 1) REQUIRE(harness.model().WaitForArrivals(1));
  }
  harness.model().OpenGate();
  WaitAll(sinks);

  int64_t stopped_early = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    INFO("request " << i);
    sinks[i]->CheckContract(1);
    const std::vector<int32_t> alone = Alone(reference, calls[i]);
    CHECK(sinks[i]->ids() == alone);
    CHECK(sinks[i]->usage().completion_tokens == static_cast<int32_t>(alone.size()));
    if (sinks[i]->finish() == ChoiceFinish::kStop) ++stopped_early;
    CHECK(
        (sinks[i]->finish() == ChoiceFinish::kLength || sinks[i]->finish() == ChoiceFinish::kStop));
  }
  CHECK(stopped_early > 0);  // the end token ended some before max_tokens
  const std::vector<RecordedBatch> batches = harness.model().batches();
  CheckLimits(batches, options);
  const size_t widest = std::max_element(batches.begin(), batches.end(), [](auto& a, auto& b) {
                          return a.size() < b.size();
                        })->size();
  CHECK(widest > 1);  // batching did happen
  CHECK(harness.model().kv_mismatches() == 0);
  const SchedulerCounters counters = harness.scheduler().counters();
  CHECK(counters.requests_finished == 32);
  if (prefix_caching) CHECK(counters.prefix_hits > 0);
  CHECK(counters.kv_blocks_used == 0);
  // The gauges are published after the step whose end sent the last OnDone.
  CHECK(Eventually([&] {
    const SchedulerCounters now = harness.scheduler().counters();
    return now.running == 0 && now.waiting == 0;
  }));
  CHECK(counters.steps == static_cast<int64_t>(batches.size()));
}

TEST_CASE("requests join at a step boundary and leave when done", "[scheduler]") {
  SchedulerOptions options;
  Harness harness(options);
  FakeDecoderModel& model = harness.model();
  const GenerateCall a = MakeCall(Prompt(1, 5, 1), 6);
  const GenerateCall b = MakeCall(Prompt(2, 3, 2), 10);

  model.CloseGate();
  auto sink_a = harness.Submit(a);
  REQUIRE(model.WaitForArrivals(1));
  auto sink_b = harness.Submit(b);  // while A's first step is held
  model.Allow(1);
  REQUIRE(model.WaitForArrivals(2));
  {
    const std::vector<RecordedBatch> batches = model.batches();
    REQUIRE(batches[0].size() == 1);
    CHECK(batches[0][0].first_token == 1);
    CHECK(batches[0][0].count == 5);
    // B joins at the next step, after A's decode.
    REQUIRE(batches[1].size() == 2);
    CHECK(batches[1][0].first_token == 1);
    CHECK(batches[1][0].count == 1);
    CHECK(batches[1][1].first_token == 2);
    CHECK(batches[1][1].start == 0);
    CHECK(batches[1][1].count == 3);
  }
  model.OpenGate();
  WaitAll({sink_a, sink_b});

  // A: its prompt, then one step per token but the last (6 steps); B: from step 1, 10 steps.
  const std::vector<RecordedBatch> batches = model.batches();
  REQUIRE(batches.size() == 11);
  for (size_t i = 0; i < batches.size(); ++i) {
    INFO("step " << i);
    std::vector<int32_t> firsts;
    for (const RecordedStep& s : batches[i]) firsts.push_back(s.first_token);
    if (i == 0) {
      CHECK(firsts == std::vector<int32_t>{1});
    } else if (i < 6) {
      CHECK(firsts == std::vector<int32_t>{1, 2});
    } else {
      CHECK(firsts == std::vector<int32_t>{2});  // A left after its last token
    }
  }
  const FakeDecoderModel reference;
  CHECK(sink_a->ids() == Alone(reference, a));
  CHECK(sink_b->ids() == Alone(reference, b));
  // The streamed text is the ids' text (the end token, a control token, writes none).
  for (const auto& sink : {sink_a, sink_b}) {
    const std::vector<int32_t> ids = sink->ids();
    CHECK(sink->text() ==
          harness.tokenizer().Decode(std::vector<uint32_t>(ids.begin(), ids.end())));
    CHECK(!sink->text().empty());
  }
  CHECK(model.kv_mismatches() == 0);
}

TEST_CASE("decodes go first and long prompts are prefilled in chunks within the budget",
          "[scheduler]") {
  SchedulerOptions options;
  options.max_batch_tokens = 16;
  options.prefill_chunk_tokens = 8;
  Harness harness(options);
  FakeDecoderModel& model = harness.model();
  const GenerateCall d1 = MakeCall(Prompt(1, 4, 1), 30);
  const GenerateCall d2 = MakeCall(Prompt(2, 4, 2), 30, 7);
  const GenerateCall l1 = MakeCall(Prompt(3, 50, 3), 3);
  const GenerateCall l2 = MakeCall(Prompt(4, 41, 4), 3, 9);

  model.CloseGate();
  auto s1 = harness.Submit(d1);
  REQUIRE(model.WaitForArrivals(1));
  auto s2 = harness.Submit(d2);
  auto s3 = harness.Submit(l1);
  auto s4 = harness.Submit(l2);
  model.OpenGate();
  WaitAll({s1, s2, s3, s4});

  const std::vector<RecordedBatch> batches = model.batches();
  CheckLimits(batches, options);
  // Step 1: D1 decodes; D2's whole prompt, L1's first chunk, and what is left for L2.
  REQUIRE(batches.size() > 2);
  REQUIRE(batches[1].size() == 4);
  CHECK(batches[1][0].first_token == 1);
  CHECK(batches[1][0].count == 1);
  CHECK(batches[1][1].first_token == 2);
  CHECK(batches[1][1].count == 4);
  CHECK(batches[1][2].first_token == 3);
  CHECK(batches[1][2].count == 8);
  CHECK(batches[1][3].first_token == 4);
  CHECK(batches[1][3].count == 3);

  // In every step, decodes (one token of a sequence past its prompt) come before any chunk.
  std::map<int32_t, int64_t> prompt_size = {{1, 4}, {2, 4}, {3, 50}, {4, 41}};
  for (size_t b = 0; b < batches.size(); ++b) {
    INFO("step " << b);
    bool chunk_seen = false;
    for (const RecordedStep& s : batches[b]) {
      const bool decode = s.start >= prompt_size[s.first_token];
      if (decode) CHECK_FALSE(chunk_seen);
      if (!decode) chunk_seen = true;
    }
  }
  // The long prompts: consecutive chunks of at most 8 covering the prompt exactly once.
  for (int32_t first : {3, 4}) {
    INFO("long prompt " << first);
    int64_t fed = 0;
    for (const auto& [b, s] : StepsOf(batches, first)) {
      if (s.start >= prompt_size[first]) break;
      CHECK(s.start == fed);
      CHECK(s.count <= 8);
      fed += s.count;
    }
    CHECK(fed == prompt_size[first]);
  }
  // D1 and D2 got a token in every step from their first decode until their end: no step
  // passes them by while the long prompts are prefilled.
  for (int32_t first : {1, 2}) {
    INFO("decoder " << first);
    const auto steps = StepsOf(batches, first);
    REQUIRE(steps.size() == 30);
    for (size_t i = 1; i < steps.size(); ++i) {
      CHECK(steps[i].first == steps[i - 1].first + 1);
      CHECK(steps[i].second.count == 1);
    }
  }
  const FakeDecoderModel reference;
  CHECK(s1->ids() == Alone(reference, d1));
  CHECK(s2->ids() == Alone(reference, d2));
  CHECK(s3->ids() == Alone(reference, l1));
  CHECK(s4->ids() == Alone(reference, l2));
  CHECK(model.kv_mismatches() == 0);
}

TEST_CASE("admission respects max_running_sequences and priorities, FIFO within one",
          "[scheduler]") {
  SchedulerOptions options;
  options.max_running_sequences = 2;
  Harness harness(options);
  FakeDecoderModel& model = harness.model();
  model.CloseGate();
  auto first = harness.Submit(MakeCall(Prompt(10, 4, 10), 3));
  REQUIRE(model.WaitForArrivals(1));
  // While the first step is held: priorities 5, 1, 5, 1, 0 in arrival order.
  std::vector<std::shared_ptr<CollectingSink>> sinks = {first};
  const std::vector<std::pair<int32_t, int32_t>> requests = {
      {11, 5}, {12, 1}, {13, 5}, {14, 1}, {15, 0}};
  for (const auto& [id, priority] : requests) {
    sinks.push_back(harness.Submit(MakeCall(Prompt(id, 4, id), 3, std::nullopt, 0, priority)));
  }
  model.OpenGate();
  WaitAll(sinks);

  const std::vector<RecordedBatch> batches = model.batches();
  CheckLimits(batches, options);
  std::vector<int32_t> admitted;
  for (const RecordedBatch& batch : batches) {
    for (const RecordedStep& s : batch) {
      if (std::find(admitted.begin(), admitted.end(), s.first_token) == admitted.end()) {
        admitted.push_back(s.first_token);
      }
    }
  }
  CHECK(admitted == std::vector<int32_t>{10, 15, 12, 14, 11, 13});
  for (const auto& sink : sinks) sink->CheckContract(1);
}

TEST_CASE("forked choices count against max_running_sequences", "[scheduler]") {
  SchedulerOptions options;
  options.max_running_sequences = 2;
  Harness harness(options);
  const GenerateCall call = MakeCall(Prompt(5, 20, 5), 6, 42, /*n=*/4);
  auto sink = harness.Submit(call);
  REQUIRE(sink->Wait());
  sink->CheckContract(4);
  const std::vector<RecordedBatch> batches = harness.model().batches();
  CheckLimits(batches, options);
  // Choice 1 forks from the prefill; choices 2 and 3 wait without blocks, then recompute only
  // the prompt's partial last block (its full block is cached).
  std::vector<RecordedStep> prefills;
  for (const RecordedBatch& batch : batches) {
    for (const RecordedStep& s : batch) {
      if (s.count > 1) prefills.push_back(s);
    }
  }
  REQUIRE(prefills.size() == 3);
  CHECK(prefills[0].start == 0);
  CHECK(prefills[0].count == 20);
  for (size_t i = 1; i < 3; ++i) {
    CHECK(prefills[i].start == 16);
    CHECK(prefills[i].count == 4);
  }
  const FakeDecoderModel reference;
  for (int32_t c = 0; c < 4; ++c) CHECK(sink->ids(c) == Alone(reference, call, c));
  CHECK(harness.scheduler().counters().kv_blocks_used == 0);
  CHECK(harness.model().kv_mismatches() == 0);
}

TEST_CASE("a full pool preempts the latest lowest-priority sequence, which recomputes",
          "[scheduler]") {
  const bool prefix_caching = GENERATE(true, false);
  INFO("prefix caching " << prefix_caching);
  SchedulerOptions options;
  options.prefix_caching = prefix_caching;
  options.prefill_chunk_tokens = 8;  // victims may be caught halfway through a prompt
  // 12 blocks of 16 positions; requests that each grow to 5 blocks (per choice).
  Harness harness(options, 12);
  FakeDecoderModel& model = harness.model();
  std::vector<GenerateCall> calls;
  for (int32_t i = 0; i < 4; ++i) {
    const std::optional<uint64_t> seed =
        i % 2 == 0 ? std::nullopt : std::optional<uint64_t>(77 + i);
    calls.push_back(MakeCall(Prompt(20 + i, 10 + 7 * i, 20 + i), 60, seed, 0, /*priority=*/1));
  }
  // Two sampled choices forked from one prefill.
  calls.push_back(MakeCall(Prompt(24, 19, 24), 50, 99, /*n=*/2, /*priority=*/1));
  // The most important request arrives last: it is never the one to give way.
  calls.push_back(MakeCall(Prompt(30, 12, 30), 60, std::nullopt, 0, /*priority=*/0));
  model.CloseGate();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (const GenerateCall& call : calls) sinks.push_back(harness.Submit(call));
  model.OpenGate();
  WaitAll(sinks);

  const FakeDecoderModel reference;
  for (size_t i = 0; i < calls.size(); ++i) {
    INFO("request " << i);
    const int32_t choices = NumChoices(calls[i].params);
    sinks[i]->CheckContract(choices);
    for (int32_t c = 0; c < choices; ++c) {
      INFO("choice " << c);
      CHECK(sinks[i]->finish(c) == ChoiceFinish::kLength);
      CHECK(sinks[i]->ids(c) == Alone(reference, calls[i], c));
    }
  }
  const SchedulerCounters counters = harness.scheduler().counters();
  CHECK(counters.preemptions > 0);
  CHECK(counters.kv_blocks_used == 0);
  CHECK(model.kv_mismatches() == 0);
  const std::vector<RecordedBatch> batches = model.batches();
  const std::set<const models::SequenceKv*> recomputed = Recomputed(batches);
  CHECK(!recomputed.empty());
  for (const RecordedBatch& batch : batches) {
    for (const RecordedStep& s : batch) {
      if (s.first_token == 30) CHECK(recomputed.count(s.kv) == 0);
    }
  }
}

TEST_CASE("the victim of a preemption is the latest arrival of the lowest priority",
          "[scheduler]") {
  SchedulerOptions options;
  options.prefix_caching = false;
  // 6 blocks: three sequences with 1-token prompts fill two blocks each by position 31. The
  // first runs one step ahead, so it is the first one short of a block, at position 32.
  Harness harness(options, 6);
  FakeDecoderModel& model = harness.model();
  model.CloseGate();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  std::vector<GenerateCall> calls;
  for (int32_t i = 0; i < 3; ++i) calls.push_back(MakeCall({40 + i}, 40));
  sinks.push_back(harness.Submit(calls[0]));
  REQUIRE(model.WaitForArrivals(1));
  sinks.push_back(harness.Submit(calls[1]));
  sinks.push_back(harness.Submit(calls[2]));
  model.OpenGate();
  WaitAll(sinks);
  const std::vector<RecordedBatch> batches = model.batches();
  // After all three joined, the first step that leaves one out follows the first preemption.
  REQUIRE(batches.size() > 33);
  CHECK(batches[0].size() == 1);
  std::optional<int32_t> victim;
  for (size_t b = 1; b < batches.size(); ++b) {
    std::set<int32_t> present;
    for (const RecordedStep& s : batches[b]) present.insert(s.first_token);
    if (present.size() == 3) continue;
    CHECK(b == 32);
    if (present.size() == 2) {
      for (int32_t i = 0; i < 3; ++i) {
        if (present.count(40 + i) == 0) victim = 40 + i;
      }
    }
    break;
  }
  REQUIRE(victim.has_value());
  CHECK(*victim == 42);
  CHECK(harness.scheduler().counters().preemptions > 0);
  const FakeDecoderModel reference;
  for (size_t i = 0; i < calls.size(); ++i) CHECK(sinks[i]->ids() == Alone(reference, calls[i]));
}

TEST_CASE("a lower-priority sequence never takes blocks from a higher-priority one",
          "[scheduler]") {
  SchedulerOptions options;
  options.prefix_caching = false;
  // 4 blocks. L (priority 1) crosses each block boundary before H (priority 0) does, so L is
  // the one short of a block when the pool is full: it must give way itself.
  Harness harness(options, 4);
  FakeDecoderModel& model = harness.model();
  const GenerateCall high = MakeCall({50}, 60, std::nullopt, 0, /*priority=*/0);
  const GenerateCall low = MakeCall(Prompt(51, 8, 51), 50, 8, 0, /*priority=*/1);
  model.CloseGate();
  auto sink_high = harness.Submit(high);
  auto sink_low = harness.Submit(low);
  model.OpenGate();
  WaitAll({sink_high, sink_low});
  const std::vector<RecordedBatch> batches = model.batches();
  const auto high_steps = StepsOf(batches, 50);
  REQUIRE(!high_steps.empty());
  CHECK(Recomputed(batches).count(high_steps.front().second.kv) == 0);
  CHECK(high_steps.size() == 60);  // one step per token but the last, plus its 1-token prompt
  CHECK(harness.scheduler().counters().preemptions > 0);
  const FakeDecoderModel reference;
  CHECK(sink_high->ids() == Alone(reference, high));
  CHECK(sink_low->ids() == Alone(reference, low));
  CHECK(sink_low->finish() == ChoiceFinish::kLength);
}

TEST_CASE("a shared prompt prefix is computed once and reused", "[scheduler]") {
  const std::vector<int32_t> shared = Prompt(7, 48, 7);
  std::vector<int32_t> p1 = shared;
  std::vector<int32_t> p2 = shared;
  for (int32_t t : {1, 2, 3, 4, 5}) p1.push_back(t);
  for (int32_t t : {9, 8, 7, 6, 5, 4, 3}) p2.push_back(t);
  const GenerateCall c1 = MakeCall(p1, 8);
  const GenerateCall c2 = MakeCall(p2, 8, 3);

  std::map<bool, std::pair<std::vector<int32_t>, std::vector<int32_t>>> outputs;
  for (const bool prefix_caching : {true, false}) {
    INFO("prefix caching " << prefix_caching);
    SchedulerOptions options;
    options.prefix_caching = prefix_caching;
    Harness harness(options);
    auto s1 = harness.Submit(c1);
    REQUIRE(s1->Wait());
    const size_t before = harness.model().batches().size();
    auto s2 = harness.Submit(c2);
    REQUIRE(s2->Wait());
    const std::vector<RecordedBatch> batches = harness.model().batches();
    REQUIRE(batches.size() > before);
    REQUIRE(batches[before].size() == 1);
    const RecordedStep& first = batches[before][0];
    const SchedulerCounters counters = harness.scheduler().counters();
    if (prefix_caching) {
      CHECK(first.start == 48);
      CHECK(first.count == 7);
      CHECK(counters.prefix_hits >= 3);
    } else {
      CHECK(first.start == 0);
      CHECK(first.count == 55);
      CHECK(counters.prefix_hits == 0);
    }
    CHECK(counters.kv_blocks_used == 0);
    CHECK(harness.model().kv_mismatches() == 0);
    outputs[prefix_caching] = {s1->ids(), s2->ids()};
  }
  CHECK(outputs[true] == outputs[false]);
  const FakeDecoderModel reference;
  CHECK(outputs[true].first == Alone(reference, c1));
  CHECK(outputs[true].second == Alone(reference, c2));
}

TEST_CASE("n choices share one prefill and each follows its own seed stream", "[scheduler]") {
  SchedulerOptions options;
  Harness harness(options);
  const GenerateCall sampled = MakeCall(Prompt(3, 20, 3), 10, 1234, /*n=*/4);
  auto sink = harness.Submit(sampled);
  REQUIRE(sink->Wait());
  sink->CheckContract(4);
  std::vector<RecordedBatch> batches = harness.model().batches();
  REQUIRE(!batches.empty());
  // One prefill of the 20 prompt tokens, then the four choices decode side by side.
  REQUIRE(batches[0].size() == 1);
  CHECK(batches[0][0].start == 0);
  CHECK(batches[0][0].count == 20);
  int64_t prompt_tokens_fed = 0;
  for (const RecordedBatch& batch : batches) {
    for (const RecordedStep& s : batch) {
      if (s.start < 20) prompt_tokens_fed += std::min<int64_t>(s.count, 20 - s.start);
    }
  }
  CHECK(prompt_tokens_fed == 20);
  for (size_t b = 1; b < batches.size(); ++b) CHECK(batches[b].size() == 4);
  const FakeDecoderModel reference;
  std::set<std::vector<int32_t>> distinct;
  for (int32_t c = 0; c < 4; ++c) {
    INFO("choice " << c);
    CHECK(sink->ids(c) == Alone(reference, sampled, c));
    distinct.insert(sink->ids(c));
  }
  CHECK(distinct.size() > 1);  // the streams differ
  CHECK(sink->usage().completion_tokens == 40);

  // Greedy choices are all the single-choice output.
  const GenerateCall greedy = MakeCall(Prompt(4, 17, 4), 9, std::nullopt, /*n=*/3);
  auto greedy_sink = harness.Submit(greedy);
  REQUIRE(greedy_sink->Wait());
  greedy_sink->CheckContract(3);
  for (int32_t c = 0; c < 3; ++c) CHECK(greedy_sink->ids(c) == Alone(reference, greedy));
  CHECK(harness.scheduler().counters().kv_blocks_used == 0);
  CHECK(harness.model().kv_mismatches() == 0);
}

TEST_CASE("a cancelled request ends within one step and frees its blocks", "[scheduler]") {
  SchedulerOptions options;
  Harness harness(options);
  FakeDecoderModel& model = harness.model();
  const GenerateCall a = MakeCall(Prompt(1, 30, 1), 40);
  const GenerateCall b = MakeCall(Prompt(2, 20, 2), 40, 5);
  const GenerateCall c = MakeCall(Prompt(3, 10, 3), 20, 6, /*n=*/2);
  model.CloseGate();
  auto sink_b = harness.Submit(b);
  REQUIRE(model.WaitForArrivals(1));
  auto sink_a = harness.Submit(a, nullptr, /*cancel_after_tokens=*/3);
  auto sink_c = harness.Submit(c, nullptr, /*cancel_after_tokens=*/5);
  model.OpenGate();
  WaitAll({sink_a, sink_b, sink_c});

  sink_a->CheckContract(1);
  CHECK(sink_a->finish() == ChoiceFinish::kCancelled);
  CHECK(sink_a->ids().size() == 3);  // no token after the one that made it cancel
  sink_c->CheckContract(2);
  CHECK(sink_c->finish(0) == ChoiceFinish::kCancelled);
  CHECK(sink_c->finish(1) == ChoiceFinish::kCancelled);
  CHECK(sink_c->ids(0).size() + sink_c->ids(1).size() >= 5);
  CHECK(sink_c->ids(0).size() + sink_c->ids(1).size() <= 6);
  // A was fed three times (prompt, then two decodes) and never again.
  CHECK(StepsOf(model.batches(), 1).size() == 3);
  sink_b->CheckContract(1);
  CHECK(sink_b->finish() == ChoiceFinish::kLength);
  const FakeDecoderModel reference;
  CHECK(sink_b->ids() == Alone(reference, b));
  const SchedulerCounters counters = harness.scheduler().counters();
  CHECK(counters.kv_blocks_used == 0);
  CHECK(counters.requests_finished == 3);
}

TEST_CASE("a sequence with NaN logits fails alone; the rest of its batch completes",
          "[scheduler]") {
  FakeDecoderModel::Options model_options;
  model_options.nan_first_token = 60;
  SchedulerOptions options;
  Harness harness(options, 256, model_options);
  FakeDecoderModel& model = harness.model();
  std::vector<GenerateCall> calls;
  for (int32_t i = 0; i < 4; ++i) calls.push_back(MakeCall(Prompt(1 + i, 8 + i, i), 12));
  const GenerateCall bad = MakeCall(Prompt(60, 9, 60), 12, std::nullopt, /*n=*/2);
  model.CloseGate();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (const GenerateCall& call : calls) sinks.push_back(harness.Submit(call));
  auto bad_sink = harness.Submit(bad);
  model.OpenGate();
  WaitAll(sinks);
  REQUIRE(bad_sink->Wait());

  bad_sink->CheckContract(2);
  CHECK(bad_sink->finish(0) == ChoiceFinish::kError);
  CHECK(bad_sink->finish(1) == ChoiceFinish::kError);
  CHECK_FALSE(bad_sink->error(0).empty());
  CHECK(bad_sink->ids(0).empty());
  // The bad sequence was in a batch with the others.
  bool shared_batch = false;
  for (const RecordedBatch& batch : model.batches()) {
    bool has_bad = false;
    for (const RecordedStep& s : batch) has_bad = has_bad || s.first_token == 60;
    shared_batch = shared_batch || (has_bad && batch.size() > 1);
  }
  CHECK(shared_batch);
  const FakeDecoderModel reference(model_options);
  for (size_t i = 0; i < calls.size(); ++i) {
    sinks[i]->CheckContract(1);
    CHECK(sinks[i]->finish() == ChoiceFinish::kLength);
    CHECK(sinks[i]->ids() == Alone(reference, calls[i]));
  }
  CHECK(harness.scheduler().counters().kv_blocks_used == 0);
}

TEST_CASE("a full queue refuses; stopping cancels queued and running requests", "[scheduler]") {
  SchedulerOptions options;
  options.max_queued_requests = 3;
  options.max_running_sequences = 1;
  FakeDecoderModel::Options model_options;
  // Slow steps, so the running request cannot finish its 200 tokens before the stop is seen.
  model_options.step_delay = std::chrono::milliseconds(2);
  auto harness = std::make_unique<Harness>(options, 256, model_options);
  FakeDecoderModel& model = harness->model();
  model.CloseGate();
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  sinks.push_back(harness->Submit(MakeCall(Prompt(1, 5, 1), 200)));
  REQUIRE(model.WaitForArrivals(1));
  for (int32_t i = 0; i < 3; ++i) {
    sinks.push_back(harness->Submit(MakeCall(Prompt(2 + i, 5, 2), 200, std::nullopt, 2)));
  }
  absl::Status refused;
  auto refused_sink = harness->Submit(MakeCall(Prompt(9, 5, 9), 10), &refused);
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(harness->scheduler().counters().waiting == 3);

  // Stop while the running request's step is held (the harness opens the gate, then destroys the
  // scheduler): at most a step or two more run before the stop is seen.
  harness.reset();
  for (size_t i = 0; i < sinks.size(); ++i) {
    INFO("request " << i);
    REQUIRE(sinks[i]->done());
    const int32_t choices = i == 0 ? 1 : 2;
    sinks[i]->CheckContract(choices);
    for (int32_t c = 0; c < choices; ++c) CHECK(sinks[i]->finish(c) == ChoiceFinish::kCancelled);
    if (i > 0) CHECK(sinks[i]->ids().empty());
  }
  CHECK_FALSE(refused_sink->done());
}

TEST_CASE("the queue limit counts requests, not choices or preempted sequences waiting",
          "[scheduler]") {
  SchedulerOptions options;
  options.max_queued_requests = 2;
  options.max_running_sequences = 2;
  Harness harness(options);
  FakeDecoderModel& model = harness.model();
  model.CloseGate();
  const GenerateCall call = MakeCall(Prompt(1, 20, 1), 6, 11, /*n=*/4);
  auto sink = harness.Submit(call);
  REQUIRE(model.WaitForArrivals(1));  // its prefill
  model.Allow(1);
  REQUIRE(model.WaitForArrivals(2));  // choices 0 and 1 decode; 2 and 3 wait for room
  CHECK(harness.scheduler().counters().waiting == 2);
  CHECK(harness.scheduler().counters().queued_requests == 0);
  absl::Status status;
  auto a = harness.Submit(MakeCall(Prompt(2, 5, 2), 3), &status);
  CHECK(status.ok());
  auto b = harness.Submit(MakeCall(Prompt(3, 5, 3), 3), &status);
  CHECK(status.ok());
  auto c = harness.Submit(MakeCall(Prompt(4, 5, 4), 3), &status);
  CHECK(status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(harness.scheduler().counters().queued_requests == 2);
  model.OpenGate();
  REQUIRE(sink->Wait());
  sink->CheckContract(4);
  const FakeDecoderModel reference;
  for (int32_t i = 0; i < 4; ++i) CHECK(sink->ids(i) == Alone(reference, call, i));
  for (const auto& queued : {a, b}) {
    REQUIRE(queued->Wait());
    queued->CheckContract(1);
    CHECK(queued->finish() == ChoiceFinish::kLength);
  }
  CHECK_FALSE(c->done());
}

TEST_CASE("a request that can never fit the pool fails instead of waiting", "[scheduler]") {
  SchedulerOptions options;
  // 4 blocks of 16: 64 positions.
  Harness harness(options, 4);
  FakeDecoderModel& model = harness.model();

  // A prompt larger than the pool, with nothing else running: refused at admission.
  auto too_long = harness.Submit(MakeCall(Prompt(1, 80, 1), 4));
  REQUIRE(too_long->Wait());
  too_long->CheckContract(1);
  CHECK(too_long->finish() == ChoiceFinish::kError);
  CHECK_FALSE(too_long->error().empty());
  CHECK(too_long->ids().empty());

  // A prompt that fits but grows past the pool: runs until the pool is full, then fails.
  auto grows = harness.Submit(MakeCall(Prompt(2, 10, 2), 100));
  REQUIRE(grows->Wait());
  grows->CheckContract(1);
  CHECK(grows->finish() == ChoiceFinish::kError);
  CHECK(grows->ids().size() == 55);  // positions 0..63 held: 10 prompt + 54 fed + the 55th
  CHECK(harness.scheduler().counters().kv_blocks_used == 0);

  // One that does not fit beside a running request waits for it instead of failing.
  model.CloseGate();
  const GenerateCall running = MakeCall(Prompt(3, 10, 3), 30);
  const GenerateCall waits = MakeCall(Prompt(4, 50, 4), 8);
  const int64_t before = model.arrivals();
  auto s1 = harness.Submit(running);
  REQUIRE(model.WaitForArrivals(before + 1));
  auto s2 = harness.Submit(waits);  // needs all 4 blocks; the running one holds 1
  model.OpenGate();
  WaitAll({s1, s2});
  // The waiting one started only after the running one had finished.
  const std::vector<RecordedBatch> batches = model.batches();
  const auto steps_1 = StepsOf(batches, 3);
  const auto steps_2 = StepsOf(batches, 4);
  REQUIRE((!steps_1.empty() && !steps_2.empty()));
  CHECK(steps_2.front().first > steps_1.back().first);
  const FakeDecoderModel reference;
  CHECK(s1->finish() == ChoiceFinish::kLength);
  CHECK(s2->finish() == ChoiceFinish::kLength);
  CHECK(s1->ids() == Alone(reference, running));
  CHECK(s2->ids() == Alone(reference, waits));
  CHECK(harness.scheduler().counters().kv_blocks_used == 0);
}

}  // namespace
}  // namespace trustformers::engine
