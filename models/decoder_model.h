// What the decoder engine needs from a decoder-only architecture (Llama family from GGUF, GPT-2
// from a Hugging Face folder): immutable weights shared by every request, and a forward pass over
// the new tokens of one or several sequences that reads and extends each sequence's keys and
// values (models/kv_view.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/kv_cache.h"

namespace trustformers::models {

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;

  virtual const std::string& architecture() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t context_length() const = 0;
  virtual int64_t parameter_count() const = 0;
  // Bytes of weights held (mapped or loaded).
  virtual int64_t weight_bytes() const = 0;

  // An empty cache for one sequence, up to the context length (or `max_positions` if smaller).
  virtual KvCache NewCache(int64_t max_positions = 0) const = 0;

  // The rows every sequence of this model holds per position (for a paged pool).
  struct KvShape {
    int64_t layers = 0;
    int64_t row_width = 0;
    KvElement element = KvElement::kF16;
  };
  virtual KvShape kv_shape() const = 0;

  // One sequence's share of a batched step.
  struct SequenceStep {
    std::span<const int32_t> tokens;
    SequenceKv* kv = nullptr;
    // Logits of every token ([tokens, vocab]) instead of the last one's ([vocab]).
    bool all_logits = false;
    // How many leading positions of the sequence are its prompt (the rest were sampled), or -1
    // when unknown. Models whose numbers follow llama.cpp's (LlamaModel) attend prompt rows in
    // its prompt order and sampled rows in its one-token order whatever the step's shape, so a
    // sequence recomputed after preemption or in other chunks gets the same bits back; unknown
    // means by the step's shape (several rows: prompt order).
    int64_t prompt_length = -1;
  };

  // Runs each step's tokens at positions kv->length() onward, appends their keys and values to
  // that sequence, and writes the logits the steps ask for to `logits`, step after step. Every
  // weight is applied once to all the steps' tokens; each step's numbers are the same, bit for
  // bit, as running it alone. INVALID_ARGUMENT for ids outside the vocabulary, an empty step or
  // a KV of another model; OUT_OF_RANGE or RESOURCE_EXHAUSTED when a sequence cannot grow. On
  // error no sequence's length changed.
  virtual absl::Status ForwardBatch(std::span<const SequenceStep> steps,
                                    std::vector<float>* logits) const = 0;

  // Checks every step against this model (token ids, KV shape, context) and reserves the rows
  // they will write: what can fail, before any sequence changes. For ForwardBatch
  // implementations.
  absl::Status PrepareSteps(std::span<const SequenceStep> steps) const;

  // One sequence: ForwardBatch of a single step.
  absl::Status Forward(std::span<const int32_t> tokens, SequenceKv* kv, bool all_logits,
                       std::vector<float>* logits) const {
    const SequenceStep step{tokens, kv, all_logits};
    return ForwardBatch(std::span<const SequenceStep>(&step, 1), logits);
  }
};

}  // namespace trustformers::models
