#include "engine/generation/sequence.h"

#include <algorithm>

#include "engine/sampling/logprobs.h"

namespace trustformers::engine {
namespace {

ChoiceFinish ToChoiceFinish(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return ChoiceFinish::kStop;
    case FinishReason::kLength:
      return ChoiceFinish::kLength;
    case FinishReason::kStopSequence:
      return ChoiceFinish::kStopSequence;
    case FinishReason::kNone:
      break;
  }
  return ChoiceFinish::kNone;
}

std::string TokenBytes(const tokenizers::CausalTokenizer& tokenizer, int32_t id) {
  if (id < 0) return {};
  return std::string(tokenizer.TokenBytes(static_cast<uint32_t>(id)));
}

}  // namespace

GenerationRequest::GenerationRequest(GenerateCall call, std::vector<int32_t> prompt_ids,
                                     std::string prompt_text, std::shared_ptr<GenerateSink> sink,
                                     uint64_t arrival)
    : call_(std::move(call)),
      prompt_ids_(std::move(prompt_ids)),
      prompt_text_(std::move(prompt_text)),
      sink_(std::move(sink)),
      arrival_(arrival),
      accepted_(Clock::now()) {
  usage.prompt_tokens = static_cast<int32_t>(prompt_ids_.size());
  last_token_at.resize(static_cast<size_t>(choices()));
}

int32_t GenerationRequest::choices() const { return NumChoices(call_.params); }

bool GenerationRequest::wants_prompt_logits() const {
  return call_.params.echo_prompt && call_.params.logprobs.has_value();
}

Sequence::Sequence(std::shared_ptr<GenerationRequest> request, int32_t choice,
                   const DecoderVocabulary* vocabulary, std::unique_ptr<PagedSequenceKv> kv)
    : request_(std::move(request)),
      choice_(choice),
      vocabulary_(vocabulary),
      kv_(std::move(kv)),
      tokens_(request_->prompt()) {
  const SamplingParams& params = request_->params();
  const auto prompt = static_cast<int64_t>(tokens_.size());
  max_positions_ =
      std::min(vocabulary_->context_length, prompt + std::max<int64_t>(params.max_tokens, 1));
  sampler_ =
      std::make_unique<Sampler>(params, vocabulary_->vocab_size, vocabulary_->end_of_generation_ids,
                                static_cast<uint32_t>(choice));
  const std::vector<uint32_t> prompt_ids(tokens_.begin(), tokens_.end());
  sampler_->SetPrompt(prompt_ids);
  stops_ = std::make_unique<StopChecker>(params, vocabulary_->end_of_generation_ids);
  text_ = std::make_unique<tokenizers::StreamingDecoder>(*vocabulary_->tokenizer,
                                                         params.skip_special_tokens);
}

std::span<const int32_t> Sequence::pending() const {
  return std::span<const int32_t>(tokens_).subspan(static_cast<size_t>(kv_->length()));
}

int64_t Sequence::pending_count() const {
  return static_cast<int64_t>(tokens_.size()) - kv_->length();
}

absl::StatusOr<std::unique_ptr<Sequence>> Sequence::Fork(int32_t choice) const {
  absl::StatusOr<std::unique_ptr<PagedSequenceKv>> kv = kv_->Fork();
  if (!kv.ok()) return kv.status();
  return std::make_unique<Sequence>(request_, choice, vocabulary_, *std::move(kv));
}

std::unique_ptr<Sequence> Sequence::Restart(int32_t choice,
                                            std::unique_ptr<PagedSequenceKv> kv) const {
  return std::make_unique<Sequence>(request_, choice, vocabulary_, std::move(kv));
}

absl::Status Sequence::EmitEcho(std::span<const float> prompt_logits) {
  const SamplingParams& params = request_->params();
  const std::vector<int32_t>& ids = request_->prompt();
  const tokenizers::CausalTokenizer& tokenizer = *vocabulary_->tokenizer;
  GenerateChunk echo;
  echo.index = choice_;
  echo.echo = true;
  echo.text = request_->prompt_text();
  echo.token_ids = ids;
  if (request_->wants_prompt_logits()) {
    const auto vocab = static_cast<size_t>(vocabulary_->vocab_size);
    for (size_t i = 0; i < ids.size(); ++i) {
      GeneratedTokenLogprob lp;
      lp.token_id = ids[i];
      lp.token_bytes = TokenBytes(tokenizer, ids[i]);
      if (i > 0) {
        // Token i given the tokens before it: the logits of position i - 1.
        const std::span<const float> row = prompt_logits.subspan((i - 1) * vocab, vocab);
        absl::StatusOr<TokenLogprobs> computed =
            ComputeLogprobs(row, static_cast<uint32_t>(ids[i]), *params.logprobs);
        if (!computed.ok()) return computed.status();
        lp.logprob = computed->logprob;
        for (const TopLogprob& top : computed->top) {
          lp.top.push_back({static_cast<int32_t>(top.id),
                            TokenBytes(tokenizer, static_cast<int32_t>(top.id)), top.logprob});
        }
      }
      echo.logprobs.push_back(std::move(lp));
    }
  }
  echoed_ = true;
  request_->sink().OnChunk(std::move(echo));
  return absl::OkStatus();
}

TokenTiming Sequence::OnLogits(std::span<const float> logits) {
  TokenTiming timing;
  GenerateChunk chunk;
  chunk.index = choice_;
  if (request_->params().max_tokens == 0) {  // score the prompt only
    End(std::move(chunk), ChoiceFinish::kLength);
    return timing;
  }
  absl::StatusOr<SampledToken> sampled = sampler_->Sample(logits);
  if (!sampled.ok()) {
    chunk.error = std::string(sampled.status().message());
    End(std::move(chunk), ChoiceFinish::kError);
    return timing;
  }
  sampled_any_ = true;
  const Clock::time_point now = Clock::now();
  if (!request_->first_token_seen) {
    request_->first_token_seen = true;
    request_->usage.time_to_first_token = now - request_->accepted();
    timing.time_to_first_token = request_->usage.time_to_first_token;
  } else if (Clock::time_point& last = request_->last_token_at[static_cast<size_t>(choice_)];
             last != Clock::time_point()) {
    timing.inter_token = now - last;
  }
  request_->last_token_at[static_cast<size_t>(choice_)] = now;

  const uint32_t token = sampled->id;
  chunk.token_ids.push_back(static_cast<int32_t>(token));
  if (request_->params().logprobs.has_value()) {
    const tokenizers::CausalTokenizer& tokenizer = *vocabulary_->tokenizer;
    GeneratedTokenLogprob lp;
    lp.token_id = static_cast<int32_t>(token);
    lp.token_bytes = TokenBytes(tokenizer, lp.token_id);
    lp.logprob = sampled->logprob;
    for (const TopLogprob& top : sampled->top) {
      lp.top.push_back({static_cast<int32_t>(top.id),
                        TokenBytes(tokenizer, static_cast<int32_t>(top.id)), top.logprob});
    }
    chunk.logprobs.push_back(std::move(lp));
  }
  const std::string piece = text_->Push(token);
  StepOutput step = stops_->Step(token, piece);
  chunk.text = std::move(step.text);
  if (step.finish != FinishReason::kNone) {
    chunk.matched_stop = std::move(step.matched_stop);
    End(std::move(chunk), ToChoiceFinish(step.finish));
  } else if (static_cast<int64_t>(tokens_.size()) >= max_positions_) {
    StepOutput rest = stops_->Finish(FinishReason::kLength);
    chunk.text += text_->Finish();
    chunk.text += rest.text;
    End(std::move(chunk), ChoiceFinish::kLength);
  } else {
    tokens_.push_back(static_cast<int32_t>(token));
    request_->sink().OnChunk(std::move(chunk));
  }
  return timing;
}

void Sequence::Finish(ChoiceFinish finish, std::string error) {
  if (finished_) return;
  GenerateChunk chunk;
  chunk.index = choice_;
  chunk.error = std::move(error);
  End(std::move(chunk), finish);
}

void Sequence::End(GenerateChunk chunk, ChoiceFinish finish) {
  finished_ = true;
  chunk.finish = finish;
  request_->usage.completion_tokens += stops_->generated();
  ++request_->choices_done;
  kv_->Clear();
  request_->sink().OnChunk(std::move(chunk));
}

}  // namespace trustformers::engine
