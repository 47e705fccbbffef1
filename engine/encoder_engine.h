// One loaded encoder model as the front ends see it: tokenizer, BERT-family weights, pooling and
// the batch queue, with Embed and Classify taking text and giving vectors or label scores. The
// model is immutable and shared; each call's state lives in the call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/encoder_queue.h"
#include "models/bert/bert_model.h"
#include "models/bert/sentence_pooling.h"
#include "tokenizers/tokenizer.h"

namespace trustformers::engine {

// What to do with an input longer than the model accepts.
enum class Truncation { kModelDefault, kNone, kEnd, kStart };

// How token vectors become one embedding (kFirst is BERT's [CLS]).
enum class Pooling { kMean, kFirst, kMax, kLast };

struct TokenizeResult {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  // Byte ranges [start, end) of each token in the input; (0, 0) for special tokens.
  std::vector<std::pair<int32_t, int32_t>> offsets;
};

struct EmbedCall {
  std::vector<std::string> texts;
  // Pre-tokenized inputs, used as given instead of `texts` when non-empty.
  std::vector<std::vector<int32_t>> token_ids;
  // Unset: the model's pooling (1_Pooling/config.json, else mean).
  std::optional<Pooling> pooling;
  // Unset: the model's own pipeline (sentence-transformers' Normalize module).
  std::optional<bool> normalize;
  Truncation truncation = Truncation::kModelDefault;
  // Leading dimensions to keep (Matryoshka); unset: all.
  std::optional<int32_t> dimensions;
};

struct EmbedResult {
  std::vector<std::vector<float>> embeddings;
  std::vector<int32_t> token_counts;
};

enum class ScoreFunction { kModelDefault, kSoftmax, kSigmoid, kNone };

struct ClassifyCall {
  std::vector<std::string> texts;
  // Empty, or one second segment per text.
  std::vector<std::string> text_pairs;
  // Labels per input, highest first; 0: all.
  int32_t top_k = 0;
  ScoreFunction function = ScoreFunction::kModelDefault;
  Truncation truncation = Truncation::kModelDefault;
  // Zero-shot: rank these labels by cosine similarity of embeddings instead of using a head.
  std::vector<std::string> candidate_labels;
};

struct LabelScore {
  std::string label;
  int32_t id = 0;
  float score = 0;
  float logit = 0;
};

struct ClassifyResult {
  std::vector<std::vector<LabelScore>> labels;
  std::vector<int32_t> token_counts;
};

struct EncoderEngineOptions {
  EncoderQueueOptions queue;
  // Inputs per call at most.
  int32_t max_inputs_per_call = 2048;
};

class EncoderEngine {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  // Loads a Hugging Face folder: config.json, model.safetensors (or shards), tokenizer.json and,
  // when present, the sentence-transformers pooling files.
  static absl::StatusOr<std::unique_ptr<EncoderEngine>> Load(const std::string& folder,
                                                             EncoderEngineOptions options);

  // Validation and tokenization run on the caller's thread; `done` runs once, on the queue's
  // thread or, for errors found before queueing, on the caller's.
  void Embed(EmbedCall call, EncoderQueue::IsCancelled cancelled, Callback<EmbedResult> done);
  // FAILED_PRECONDITION for a model without a classification head, unless the call gives
  // candidate labels (zero-shot by embedding similarity).
  void Classify(ClassifyCall call, EncoderQueue::IsCancelled cancelled,
                Callback<ClassifyResult> done);

  // The ids the model would see for `text`, with their strings and byte offsets.
  absl::StatusOr<TokenizeResult> TokenizeText(const std::string& text,
                                              bool add_special_tokens) const;
  // Text for `ids`; INVALID_ARGUMENT naming the first id outside the vocabulary.
  absl::StatusOr<std::string> Detokenize(const std::vector<int32_t>& ids,
                                         bool skip_special_tokens) const;

  int64_t parameter_count() const { return model_->parameter_count(); }
  // Longest input in tokens, special tokens included.
  int64_t max_input_tokens() const { return max_input_tokens_; }
  int64_t embedding_dimensions() const { return model_->config().hidden_size; }
  // Requests waiting for the batch queue.
  int64_t queued() const { return queue_->queued(); }
  EncoderQueueCounters counters() const { return queue_->counters(); }
  bool can_classify() const { return model_->has_classifier(); }
  // Label names by id (label_<id> where config.json names none).
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  EncoderEngine() = default;

  // Tokenizes `texts` (and pairs) under `truncation`; INVALID_ARGUMENT naming the input for an
  // over-long input with kNone, bad UTF-8 or an empty result.
  absl::StatusOr<std::vector<models::EncoderInput>> Tokenize(const std::vector<std::string>& texts,
                                                             const std::vector<std::string>& pairs,
                                                             Truncation truncation) const;

  void ClassifyZeroShot(ClassifyCall call, EncoderQueue::IsCancelled cancelled,
                        Callback<ClassifyResult> done);

  std::unique_ptr<models::BertModel> model_;
  std::unique_ptr<tokenizers::Tokenizer> tokenizer_;
  models::SentencePooling pooling_;
  std::vector<std::string> labels_;
  int64_t max_input_tokens_ = 0;
  EncoderEngineOptions options_;
  std::unique_ptr<EncoderQueue> queue_;  // last: stops before the model it uses goes away
};

}  // namespace trustformers::engine
