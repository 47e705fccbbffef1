#include "engine/encoder_engine.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/status_macros.h"

namespace trustformers::engine {
namespace {

absl::Status WithInput(size_t index, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("input ", index, ": ", status.message()));
}

backends::PoolingMode ToPoolingMode(Pooling pooling) {
  switch (pooling) {
    case Pooling::kFirst:
      return backends::PoolingMode::kFirst;
    case Pooling::kMax:
      return backends::PoolingMode::kMax;
    case Pooling::kLast:
      return backends::PoolingMode::kLast;
    case Pooling::kMean:
      break;
  }
  return backends::PoolingMode::kMean;
}

std::vector<float> Scores(const std::vector<float>& logits, ScoreFunction function) {
  std::vector<float> scores = logits;
  if (function == ScoreFunction::kSoftmax) {
    const float max = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (float& s : scores) sum += (s = std::exp(s - max));
    for (float& s : scores) s = static_cast<float>(s / sum);
  } else if (function == ScoreFunction::kSigmoid) {
    for (float& s : scores) s = static_cast<float>(1.0 / (1.0 + std::exp(-double{s})));
  }
  return scores;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EncoderEngine>> EncoderEngine::Load(const std::string& folder,
                                                                   EncoderEngineOptions options) {
  auto engine = std::unique_ptr<EncoderEngine>(new EncoderEngine());
  engine->options_ = options;
  TF_ASSIGN_OR_RETURN(engine->model_, models::BertModel::Load(folder));
  TF_ASSIGN_OR_RETURN(engine->pooling_, models::ReadSentencePooling(folder));
  TF_ASSIGN_OR_RETURN(
      engine->tokenizer_,
      tokenizers::Tokenizer::FromFile((std::filesystem::path(folder) / "tokenizer.json").string()));
  // The model decides lengths: tokenizer.json's own truncation and padding are for training
  // scripts (all-MiniLM's says 128, while sentence-transformers runs it at 256).
  engine->tokenizer_->set_truncation(std::nullopt);
  TF_RETURN_IF_ERROR(engine->tokenizer_->set_padding(std::nullopt));
  const models::EncoderConfig& config = engine->model_->config();
  engine->max_input_tokens_ = config.max_position_embeddings - config.position_offset();
  if (engine->pooling_.max_seq_length > 0) {
    engine->max_input_tokens_ =
        std::min(engine->max_input_tokens_, engine->pooling_.max_seq_length);
  }
  if (engine->model_->has_classifier()) {
    for (int64_t i = 0; i < engine->model_->num_labels(); ++i) {
      engine->labels_.push_back(config.id2label.empty() ? absl::StrCat("LABEL_", i)
                                                        : config.id2label[static_cast<size_t>(i)]);
    }
  }
  engine->queue_ = std::make_unique<EncoderQueue>(engine->model_.get(), options.queue);
  return engine;
}

absl::StatusOr<TokenizeResult> EncoderEngine::TokenizeText(const std::string& text,
                                                           bool add_special_tokens) const {
  absl::StatusOr<tokenizers::Encoding> encoding = tokenizer_->Encode(text, add_special_tokens);
  if (!encoding.ok()) return encoding.status();
  TokenizeResult result;
  result.ids.assign(encoding->ids.begin(), encoding->ids.end());
  result.tokens = std::move(encoding->tokens);
  for (const tokenizers::Offsets& offset : encoding->offsets) {
    result.offsets.emplace_back(static_cast<int32_t>(offset.start),
                                static_cast<int32_t>(offset.end));
  }
  return result;
}

absl::StatusOr<std::string> EncoderEngine::Detokenize(const std::vector<int32_t>& ids,
                                                      bool skip_special_tokens) const {
  std::vector<uint32_t> checked;
  checked.reserve(ids.size());
  const size_t vocab = tokenizer_->vocab_size();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", ids[i], " at position ", i, " is outside the vocabulary [0, ", vocab, ")"));
    }
    checked.push_back(static_cast<uint32_t>(ids[i]));
  }
  return tokenizer_->Decode(checked, skip_special_tokens);
}

absl::StatusOr<std::vector<models::EncoderInput>> EncoderEngine::Tokenize(
    const std::vector<std::string>& texts, const std::vector<std::string>& pairs,
    Truncation truncation) const {
  if (texts.empty()) return absl::InvalidArgumentError("no inputs given");
  if (static_cast<int64_t>(texts.size()) > options_.max_inputs_per_call) {
    return absl::InvalidArgumentError(absl::StrCat(texts.size(), " inputs in one call; at most ",
                                                   options_.max_inputs_per_call, " are accepted"));
  }
  if (!pairs.empty() && pairs.size() != texts.size()) {
    return absl::InvalidArgumentError(absl::StrCat(pairs.size(), " text pairs for ", texts.size(),
                                                   " inputs; give one per input or none"));
  }
  tokenizers::EncodeOptions options;
  if (truncation == Truncation::kModelDefault || truncation == Truncation::kEnd ||
      truncation == Truncation::kStart) {
    tokenizers::TruncationParams params;
    params.max_length = static_cast<size_t>(max_input_tokens_);
    params.direction =
        truncation == Truncation::kStart ? tokenizers::Side::kLeft : tokenizers::Side::kRight;
    options.truncation = params;
  }
  std::vector<models::EncoderInput> inputs;
  inputs.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<tokenizers::Encoding> encoding =
        pairs.empty() ? tokenizer_->Encode(texts[i], options)
                      : tokenizer_->EncodePair(texts[i], pairs[i], options);
    if (!encoding.ok()) return WithInput(i, encoding.status());
    if (static_cast<int64_t>(encoding->ids.size()) > max_input_tokens_) {
      return WithInput(
          i, absl::InvalidArgumentError(absl::StrCat(
                 "the input has ", encoding->ids.size(), " tokens; the model accepts at most ",
                 max_input_tokens_, " (ask for truncation to cut it)")));
    }
    if (encoding->ids.empty()) {
      return WithInput(i, absl::InvalidArgumentError("the input tokenizes to nothing"));
    }
    models::EncoderInput input;
    input.ids.assign(encoding->ids.begin(), encoding->ids.end());
    input.type_ids.assign(encoding->type_ids.begin(), encoding->type_ids.end());
    inputs.push_back(std::move(input));
  }
  return inputs;
}

void EncoderEngine::Embed(EmbedCall call, EncoderQueue::IsCancelled cancelled,
                          Callback<EmbedResult> done) {
  const int64_t hidden = embedding_dimensions();
  if (call.dimensions.has_value() && (*call.dimensions < 1 || *call.dimensions > hidden)) {
    done(absl::InvalidArgumentError(
        absl::StrCat("dimensions ", *call.dimensions, " is outside [1, ", hidden, "]")));
    return;
  }
  absl::StatusOr<std::vector<models::EncoderInput>> inputs;
  if (!call.token_ids.empty()) {
    if (!call.texts.empty()) {
      done(absl::InvalidArgumentError("give either texts or token ids, not both"));
      return;
    }
    inputs.emplace();
    for (std::vector<int32_t>& ids : call.token_ids) inputs->push_back({std::move(ids), {}});
  } else {
    inputs = Tokenize(call.texts, {}, call.truncation);
  }
  if (!inputs.ok()) {
    done(inputs.status());
    return;
  }
  const bool normalize = call.normalize.value_or(pooling_.normalize);
  const int64_t keep = call.dimensions.value_or(static_cast<int32_t>(hidden));
  absl::Status submitted = queue_->Submit(
      *std::move(inputs), call.pooling.has_value() ? ToPoolingMode(*call.pooling) : pooling_.mode,
      std::move(cancelled),
      [done, normalize, keep](absl::StatusOr<std::vector<EncoderOutput>> outputs) {
        if (!outputs.ok()) {
          done(outputs.status());
          return;
        }
        EmbedResult result;
        for (EncoderOutput& output : *outputs) {
          output.embedding.resize(static_cast<size_t>(keep));
          if (normalize) {
            double sum = 0;
            for (float v : output.embedding) sum += double{v} * v;
            // As torch.nn.functional.normalize: divide by max(norm, 1e-12).
            const double norm = std::max(std::sqrt(sum), 1e-12);
            for (float& v : output.embedding) v = static_cast<float>(v / norm);
          }
          result.embeddings.push_back(std::move(output.embedding));
          result.token_counts.push_back(output.token_count);
        }
        done(std::move(result));
      });
  if (!submitted.ok()) done(submitted);
}

void EncoderEngine::ClassifyZeroShot(ClassifyCall call, EncoderQueue::IsCancelled cancelled,
                                     Callback<ClassifyResult> done) {
  constexpr size_t kMaxCandidateLabels = 256;
  if (call.candidate_labels.size() > kMaxCandidateLabels) {
    done(absl::InvalidArgumentError(
        absl::StrCat(call.candidate_labels.size(), " candidate labels; at most 256 are accepted")));
    return;
  }
  if (!call.text_pairs.empty()) {
    done(absl::InvalidArgumentError("text_pairs cannot be combined with candidate_labels"));
    return;
  }
  const size_t inputs = call.texts.size();
  const std::vector<std::string> labels = call.candidate_labels;
  const size_t top_k =
      call.top_k == 0 ? labels.size() : std::min(labels.size(), static_cast<size_t>(call.top_k));
  // Inputs and labels embedded in one call, so they share a batch.
  EmbedCall embed;
  embed.texts = std::move(call.texts);
  embed.texts.insert(embed.texts.end(), labels.begin(), labels.end());
  embed.normalize = true;
  embed.truncation = call.truncation;
  Embed(std::move(embed), std::move(cancelled),
        [done, inputs, labels, top_k](absl::StatusOr<EmbedResult> embedded) {
          if (!embedded.ok()) {
            done(embedded.status());
            return;
          }
          ClassifyResult result;
          for (size_t i = 0; i < inputs; ++i) {
            const std::vector<float>& input = embedded->embeddings[i];
            std::vector<LabelScore> scores;
            for (size_t l = 0; l < labels.size(); ++l) {
              const std::vector<float>& label = embedded->embeddings[inputs + l];
              double cosine = 0;  // both are unit vectors
              for (size_t d = 0; d < input.size(); ++d) cosine += double{input[d]} * label[d];
              scores.push_back({labels[l], static_cast<int32_t>(l), static_cast<float>(cosine),
                                static_cast<float>(cosine)});
            }
            std::stable_sort(
                scores.begin(), scores.end(),
                [](const LabelScore& a, const LabelScore& b) { return a.score > b.score; });
            scores.resize(top_k);
            result.labels.push_back(std::move(scores));
            result.token_counts.push_back(embedded->token_counts[i]);
          }
          done(std::move(result));
        });
}

void EncoderEngine::Classify(ClassifyCall call, EncoderQueue::IsCancelled cancelled,
                             Callback<ClassifyResult> done) {
  if (call.top_k < 0) {
    done(absl::InvalidArgumentError(absl::StrCat("top_k ", call.top_k, " is negative")));
    return;
  }
  if (!call.candidate_labels.empty()) {
    if (call.texts.empty()) {
      done(absl::InvalidArgumentError("no inputs given"));
      return;
    }
    ClassifyZeroShot(std::move(call), std::move(cancelled), std::move(done));
    return;
  }
  if (!can_classify()) {
    done(absl::FailedPreconditionError(
        "this model has no sequence-classification head; use Embed, or load a "
        "...ForSequenceClassification checkpoint, or give candidate_labels for zero-shot "
        "ranking by embedding similarity"));
    return;
  }
  absl::StatusOr<std::vector<models::EncoderInput>> inputs =
      Tokenize(call.texts, call.text_pairs, call.truncation);
  if (!inputs.ok()) {
    done(inputs.status());
    return;
  }
  ScoreFunction function = call.function;
  if (function == ScoreFunction::kModelDefault) {
    // transformers' text-classification pipeline: sigmoid for multi-label models and single-
    // output regressors, softmax otherwise.
    const std::string& problem = model_->config().problem_type;
    function = (problem == "multi_label_classification" || labels_.size() == 1)
                   ? ScoreFunction::kSigmoid
                   : ScoreFunction::kSoftmax;
  }
  const size_t top_k =
      call.top_k == 0 ? labels_.size() : std::min(labels_.size(), static_cast<size_t>(call.top_k));
  absl::Status submitted = queue_->Submit(
      *std::move(inputs), pooling_.mode, std::move(cancelled),
      [this, done, function, top_k](absl::StatusOr<std::vector<EncoderOutput>> outputs) {
        if (!outputs.ok()) {
          done(outputs.status());
          return;
        }
        ClassifyResult result;
        for (const EncoderOutput& output : *outputs) {
          const std::vector<float> scores = Scores(output.logits, function);
          std::vector<int32_t> order(scores.size());
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
            return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
          });
          std::vector<LabelScore> labels;
          for (size_t i = 0; i < top_k; ++i) {
            const auto id = static_cast<size_t>(order[i]);
            labels.push_back({labels_[id], order[i], scores[id], output.logits[id]});
          }
          result.labels.push_back(std::move(labels));
          result.token_counts.push_back(output.token_count);
        }
        done(std::move(result));
      });
  if (!submitted.ok()) done(submitted);
}

}  // namespace trustformers::engine
