// One loaded decoder model as the front ends see it: a Llama-family GGUF file or a GPT-2 Hugging
// Face folder, with its tokenizer, chat template and end-of-generation tokens, and the thread
// that runs its requests.
// Submit checks and tokenizes a request on the caller's thread (so every error arrives before any
// output), then hands it to the model's scheduler (engine/scheduler.h), whose thread runs every
// request in continuous batches and streams chunks to each request's sink.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/generation/generate_types.h"
#include "engine/scheduler.h"
#include "models/decoder_model.h"
#include "tokenizers/causal_tokenizer.h"
#include "tokenizers/chat_template.h"

namespace trustformers::engine {

struct DecoderEngineOptions {
  // Requests waiting at once; beyond it Submit answers RESOURCE_EXHAUSTED.
  int64_t max_queued_requests = 256;
  // Prompt tokens per forward pass while prefilling (bounds the activations' memory).
  int64_t prefill_chunk_tokens = 256;
  // Sequences in the running batch, and tokens per batched step.
  int64_t max_running_sequences = 64;
  int64_t max_batch_tokens = 256;
  // Memory of the paged KV cache, and positions per block.
  int64_t kv_cache_bytes = int64_t{512} << 20;
  int64_t kv_block_tokens = 16;
  bool prefix_caching = true;
  // GGUF weights copied into huge-page memory (faster decoding) rather than mapped from the file.
  bool weights_in_memory = true;
  // Per-request limits (0: none beyond the model's context).
  int64_t max_prompt_tokens = 0;
  int64_t max_new_tokens = 0;
  int64_t max_choices = 16;
  int64_t max_stop_strings = 16;
  // Latency histograms (may be null), for this model's label.
  SchedulerHistograms histograms;
};

// Sampling defaults from a Hugging Face generation_config.json (its do_sample flag is not
// consulted, as the API documents); unset fields keep the proto's defaults.
struct SamplingDefaults {
  std::optional<float> temperature, top_p, min_p, typical_p, repetition_penalty;
  std::optional<int32_t> top_k;
};

// A request's prompt as the model sees it.
struct PromptTokens {
  std::vector<int32_t> ids;
  // The prompt text (the rendered chat template for messages); decoded ids for token input.
  std::string text;
};

using DecoderEngineCounters = SchedulerCounters;

class DecoderEngine {
 public:
  // Opens the GGUF file and builds everything; INVALID_ARGUMENT / UNIMPLEMENTED naming what is
  // wrong with the file.
  static absl::StatusOr<std::unique_ptr<DecoderEngine>> LoadGguf(const std::string& path,
                                                                 DecoderEngineOptions options = {});
  // A Hugging Face folder: config.json, model.safetensors, tokenizer.json, and optionally
  // tokenizer_config.json (chat_template) and generation_config.json (eos_token_id).
  static absl::StatusOr<std::unique_ptr<DecoderEngine>> LoadHfFolder(
      const std::string& folder, DecoderEngineOptions options = {});
  // Cancels queued and running requests (their choices end with kCancelled), then stops.
  ~DecoderEngine();
  DecoderEngine(const DecoderEngine&) = delete;
  DecoderEngine& operator=(const DecoderEngine&) = delete;

  // INVALID_ARGUMENT for bad input or sampling parameters (naming the field), FAILED_PRECONDITION
  // for messages to a model without a chat template, RESOURCE_EXHAUSTED when the queue is full.
  // On OK the sink receives the output on the engine's thread; on error it receives nothing.
  absl::Status Submit(GenerateCall call, std::shared_ptr<GenerateSink> sink);

  // The ids Generate would use for `input` (Tokenize RPC).
  absl::StatusOr<PromptTokens> Tokenize(const GenerateInput& input) const;
  // INVALID_ARGUMENT naming the first id outside the vocabulary.
  absl::StatusOr<std::string> Detokenize(std::span<const int32_t> ids,
                                         bool skip_special_tokens) const;
  // The bytes a token stands for, and its vocabulary spelling.
  std::string TokenBytes(int32_t id) const;
  std::string TokenString(int32_t id) const;

  const models::DecoderModel& model() const { return *model_; }
  int64_t context_length() const { return model_->context_length(); }
  int64_t parameter_count() const { return model_->parameter_count(); }
  int64_t weight_bytes() const { return model_->weight_bytes(); }
  int32_t vocab_size() const { return static_cast<int32_t>(model_->vocab_size()); }
  bool has_chat_template() const { return chat_template_ != nullptr; }
  const std::vector<uint32_t>& end_of_generation_ids() const { return eog_ids_; }
  const SamplingDefaults& sampling_defaults() const { return sampling_defaults_; }
  const tokenizers::CausalTokenizer& tokenizer() const { return *tokenizer_; }
  // Requests and sequences waiting for the batch.
  int64_t queued() const { return scheduler_->counters().waiting; }
  DecoderEngineCounters counters() const { return scheduler_->counters(); }

 private:
  DecoderEngine() = default;
  // Checks the parts fit together and starts the scheduler.
  absl::Status Start(const std::string& source);
  // INVALID_ARGUMENT when the request could never fit in the KV pool, naming the numbers.
  absl::Status CheckFits(const GenerateCall& call, int64_t prompt_tokens) const;

  DecoderEngineOptions options_;
  std::unique_ptr<models::DecoderModel> model_;
  std::unique_ptr<tokenizers::CausalTokenizer> tokenizer_;
  std::unique_ptr<tokenizers::ChatTemplate> chat_template_;
  std::vector<uint32_t> eog_ids_;
  SamplingDefaults sampling_defaults_;
  std::string bos_text_, eos_text_;
  DecoderVocabulary vocabulary_;
  std::atomic<uint64_t> next_arrival_{0};
  std::unique_ptr<Scheduler> scheduler_;  // last: stops before what it uses goes away
};

}  // namespace trustformers::engine
