// A decoder model for scheduler tests: no weights, deterministic, and honest about its KV rows.
// Every step writes each new token's rows (its id and position) through SequenceKv::Rows and
// computes each wanted logit row only from the rows it reads back for positions [0, p], so a wrong
// block table, a bad prefix reuse or a broken recompute changes the output (and is counted).
// Logits are peaked: one clear winner picked by a hash of the tokens read back, the rest lower, so
// greedy decoding is deterministic and seeded sampling still varies.
//
// Tests see what the scheduler decided: every ForwardBatch call is recorded (which sequences,
// from which position, how many tokens) when it arrives, before a gate that can hold steps until
// the test lets them run, so requests can be submitted "during" a step deterministically.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/generation/sequence.h"
#include "models/decoder_model.h"
#include "tokenizers/bpe_tokenizer.h"
#include "tokenizers/bpe_vocab.h"

namespace trustformers::engine::testing {

// One sequence's share of a recorded step.
struct RecordedStep {
  const models::SequenceKv* kv = nullptr;
  // The sequence's token at position 0 (the step's first token when it starts at 0).
  int32_t first_token = 0;
  // Position of the step's first token (the KV length before the step).
  int64_t start = 0;
  int64_t count = 0;
  bool all_logits = false;
};
using RecordedBatch = std::vector<RecordedStep>;

struct FakeModelOptions {
  int64_t vocab_size = 64;
  int64_t context_length = 256;
  // Every logit is NaN for sequences whose token at position 0 is this id.
  std::optional<int32_t> nan_first_token;
  // Slept in every step, after the gate.
  std::chrono::microseconds step_delay{0};
};

class FakeDecoderModel : public models::DecoderModel {
 public:
  static constexpr int64_t kLayers = 2;
  static constexpr int64_t kRowWidth = 8;

  using Options = FakeModelOptions;

  FakeDecoderModel() = default;
  explicit FakeDecoderModel(Options options) : options_(options) {}

  const std::string& architecture() const override { return architecture_; }
  int64_t vocab_size() const override { return options_.vocab_size; }
  int64_t context_length() const override { return options_.context_length; }
  int64_t parameter_count() const override { return 0; }
  int64_t weight_bytes() const override { return 0; }
  models::KvCache NewCache(int64_t max_positions = 0) const override {
    const int64_t limit = max_positions > 0 ? std::min(max_positions, options_.context_length)
                                            : options_.context_length;
    return models::KvCache(kLayers, kRowWidth, limit, models::KvElement::kF32);
  }
  KvShape kv_shape() const override { return {kLayers, kRowWidth, models::KvElement::kF32}; }

  absl::Status ForwardBatch(std::span<const SequenceStep> steps,
                            std::vector<float>* logits) const override {
    for (const SequenceStep& step : steps) {
      if (step.tokens.empty()) return absl::InvalidArgumentError("an empty step");
      if (step.kv == nullptr || step.kv->element() != models::KvElement::kF32 ||
          step.kv->row_width() != kRowWidth) {
        return absl::InvalidArgumentError("a KV of another model");
      }
      for (int32_t id : step.tokens) {
        if (id < 0 || id >= options_.vocab_size) {
          return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is out of range"));
        }
      }
    }
    Arrive(steps);
    if (options_.step_delay.count() > 0) std::this_thread::sleep_for(options_.step_delay);

    // All or nothing: every sequence gets its room before any row is written.
    for (const SequenceStep& step : steps) {
      if (absl::Status s = step.kv->Reserve(static_cast<int64_t>(step.tokens.size())); !s.ok()) {
        return s;
      }
    }
    logits->clear();
    const auto vocab = static_cast<size_t>(options_.vocab_size);
    for (const SequenceStep& step : steps) {
      const int64_t start = step.kv->length();
      const auto count = static_cast<int64_t>(step.tokens.size());
      for (int64_t i = 0; i < count; ++i) WriteRows(*step.kv, start + i, step.tokens[i]);
      const int64_t first_wanted = step.all_logits ? start : start + count - 1;
      for (int64_t p = first_wanted; p < start + count; ++p) {
        logits->resize(logits->size() + vocab);
        LogitsAt(*step.kv, p, std::span<float>(logits->data() + logits->size() - vocab, vocab));
      }
    }
    for (const SequenceStep& step : steps) {
      step.kv->Advance(static_cast<int64_t>(step.tokens.size()));
    }
    return absl::OkStatus();
  }

  // --- What the tests look at ---

  std::vector<RecordedBatch> batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  // Rows read back that did not hold what was written at their position.
  int64_t kv_mismatches() const {
    std::lock_guard lock(mutex_);
    return mismatches_;
  }

  // --- The gate: while closed, each step waits at arrival for a permit ---

  void CloseGate() {
    std::lock_guard lock(mutex_);
    gate_open_ = false;
  }
  void OpenGate() {
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;
    }
    changed_.notify_all();
  }
  // Lets `steps` more steps through a closed gate.
  void Allow(int64_t steps) {
    {
      std::lock_guard lock(mutex_);
      permits_ += steps;
    }
    changed_.notify_all();
  }
  // Steps that reached the gate so far (the one held there included).
  int64_t arrivals() const {
    std::lock_guard lock(mutex_);
    return static_cast<int64_t>(batches_.size());
  }
  // Waits until `count` steps arrived; false after 20 s (a hang, for the test to report).
  bool WaitForArrivals(int64_t count) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20),
                             [&] { return static_cast<int64_t>(batches_.size()) >= count; });
  }

  // The winning token of the peaked distribution after `tokens` (what greedy decoding picks).
  int32_t Winner(std::span<const int32_t> tokens) const {
    uint64_t hash = kSeed;
    for (size_t p = 0; p < tokens.size(); ++p) hash = Mix(hash, tokens[p], static_cast<int64_t>(p));
    return static_cast<int32_t>(hash % static_cast<uint64_t>(options_.vocab_size));
  }

 private:
  static constexpr uint64_t kSeed = 0x5eed5eed5eed5eedull;

  static uint64_t Mix(uint64_t hash, int32_t token, int64_t position) {
    uint64_t z = hash ^ (static_cast<uint64_t>(token) * 0x9E3779B97F4A7C15ull) ^
                 (static_cast<uint64_t>(position) << 32);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Key row of layer l at position p: {token, p, l, token + p, ...}; the value row holds the
  // same numbers negated, so a row written for another position or layer is caught.
  static float Cell(int32_t token, int64_t position, int64_t layer, int64_t i) {
    switch (i) {
      case 0:
        return static_cast<float>(token);
      case 1:
        return static_cast<float>(position);
      case 2:
        return static_cast<float>(layer);
      default:
        return static_cast<float>(token + position * i + layer);
    }
  }

  static void WriteRows(models::SequenceKv& kv, int64_t position, int32_t token) {
    for (int64_t layer = 0; layer < kLayers; ++layer) {
      void* key = nullptr;
      void* value = nullptr;
      kv.Rows(layer, position, position + 1, &key, &value);
      auto* k = static_cast<float*>(key);
      auto* v = static_cast<float*>(value);
      for (int64_t i = 0; i < kRowWidth; ++i) {
        k[i] = Cell(token, position, layer, i);
        v[i] = -Cell(token, position, layer, i);
      }
    }
  }

  // Logits after position p, from the rows of positions [0, p] read back.
  void LogitsAt(const models::SequenceKv& kv, int64_t p, std::span<float> out) const {
    models::KvRowTable<float> table[kLayers];
    for (int64_t layer = 0; layer < kLayers; ++layer) table[layer].Load(kv, layer, p + 1);
    uint64_t hash = kSeed;
    int64_t bad = 0;
    int32_t first = 0;
    for (int64_t q = 0; q <= p; ++q) {
      const auto token = static_cast<int32_t>(table[0].key(q)[0]);
      if (q == 0) first = token;
      for (int64_t layer = 0; layer < kLayers; ++layer) {
        for (int64_t i = 0; i < kRowWidth; ++i) {
          const float expected = Cell(token, q, layer, i);
          if (table[layer].key(q)[i] != expected || table[layer].value(q)[i] != -expected) {
            ++bad;
            break;
          }
        }
      }
      hash = Mix(hash, token, q);
    }
    if (bad > 0) {
      std::lock_guard lock(mutex_);
      mismatches_ += bad;
    }
    if (options_.nan_first_token && first == *options_.nan_first_token) {
      std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
      return;
    }
    const auto vocab = static_cast<uint64_t>(options_.vocab_size);
    for (size_t i = 0; i < out.size(); ++i) {
      // The others in [0, 4), the winner 8: softmax gives it most but not all of the mass.
      out[i] = static_cast<float>(Mix(hash, static_cast<int32_t>(i), -1) % 1000) / 250.0f;
    }
    out[static_cast<size_t>(hash % vocab)] = 8.0f;
  }

  void Arrive(std::span<const SequenceStep> steps) const {
    RecordedBatch batch;
    for (const SequenceStep& step : steps) {
      RecordedStep r;
      r.kv = step.kv;
      r.start = step.kv->length();
      r.count = static_cast<int64_t>(step.tokens.size());
      r.all_logits = step.all_logits;
      if (r.start == 0) {
        r.first_token = step.tokens[0];
      } else {
        void* key = nullptr;
        void* value = nullptr;
        step.kv->Rows(0, 0, 1, &key, &value);
        r.first_token = static_cast<int32_t>(static_cast<const float*>(key)[0]);
      }
      batch.push_back(r);
    }
    std::unique_lock lock(mutex_);
    batches_.push_back(std::move(batch));
    changed_.notify_all();
    changed_.wait(lock, [&] { return gate_open_ || permits_ > 0; });
    if (!gate_open_) --permits_;
  }

  Options options_;
  std::string architecture_ = "fake";
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable std::vector<RecordedBatch> batches_;
  mutable int64_t mismatches_ = 0;
  mutable bool gate_open_ = true;
  mutable int64_t permits_ = 0;
};

// A byte-level BPE tokenizer that decodes every id of the fake vocabulary: ids 0..62 are the
// characters a-z, A-Z, 0-9 and '!', id 63 is the control token <|end|> (end of generation).
inline std::unique_ptr<tokenizers::BpeTokenizer> FakeTokenizer() {
  tokenizers::BpeVocab vocab;
  for (char c = 'a'; c <= 'z'; ++c) vocab.tokens.emplace_back(1, c);
  for (char c = 'A'; c <= 'Z'; ++c) vocab.tokens.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) vocab.tokens.emplace_back(1, c);
  vocab.tokens.emplace_back("!");
  vocab.tokens.emplace_back("<|end|>");
  vocab.token_types.assign(vocab.tokens.size(), tokenizers::TokenType::kNormal);
  vocab.token_types.back() = tokenizers::TokenType::kControl;
  vocab.pre_tokenizer = "gpt-2";
  vocab.eos_id = static_cast<uint32_t>(vocab.tokens.size() - 1);
  absl::StatusOr<std::unique_ptr<tokenizers::BpeTokenizer>> tokenizer =
      tokenizers::BpeTokenizer::FromVocab(vocab);
  if (!tokenizer.ok()) return nullptr;
  return *std::move(tokenizer);
}

inline constexpr int32_t kFakeEndToken = 63;

}  // namespace trustformers::engine::testing
