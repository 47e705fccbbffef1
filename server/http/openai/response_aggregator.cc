#include "server/http/openai/response_aggregator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trustformers::server::openai {

ResponseAggregator::ResponseAggregator(ResponseOptions options)
    : options_(std::move(options)), envelope_(options_) {
  options_.n = std::max(options_.n, 1);
  options_.num_prompts = std::max(options_.num_prompts, 1);
  choices_.resize(static_cast<size_t>(options_.n) * static_cast<size_t>(options_.num_prompts));
}

absl::Status ResponseAggregator::Add(const v1::GenerateResponse& message, int32_t prompt_index) {
  envelope_.Observe(message);
  const int32_t index = ChoiceIndex(options_, message, prompt_index);
  if (index < 0) {
    return absl::InternalError(absl::StrCat("the Generate stream of prompt ", prompt_index,
                                            " sent choice index ", message.index(),
                                            ", outside the request's ", options_.n, " choices"));
  }
  Choice& choice = choices_[static_cast<size_t>(index)];
  if (choice.finish != v1::FINISH_REASON_UNSPECIFIED) return absl::OkStatus();
  if (message.has_usage()) AddUsage(message.usage(), &usage_);
  if (absl::Status end = ChoiceEndStatus(message); !end.ok()) return end;

  choice.text += message.text();
  // Chat has no prompt logprobs, so an echoed prompt goes without.
  if (options_.logprobs && !(options_.kind == ApiKind::kChat && message.echo())) {
    for (const v1::TokenLogprob& token : message.logprobs()) *choice.logprobs.Add() = token;
  }
  if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    choice.finish = message.finish_reason();
    ++finished_;
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ResponseAggregator::Finish() const {
  const bool chat = options_.kind == ApiKind::kChat;
  nlohmann::json choices = nlohmann::json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& choice = choices_[i];
    if (choice.finish == v1::FINISH_REASON_UNSPECIFIED) {
      return absl::InternalError(
          absl::StrCat("the Generate stream ended before choice ", i, " finished"));
    }
    nlohmann::json out = {{"index", static_cast<int32_t>(i)}};
    if (chat) {
      out["message"] = {{"role", "assistant"}, {"content", choice.text}, {"refusal", nullptr}};
    } else {
      out["text"] = choice.text;
    }
    if (!options_.logprobs) {
      out["logprobs"] = nullptr;
    } else if (chat) {
      out["logprobs"] = ChatLogprobsJson(choice.logprobs);
    } else {
      int64_t text_offset = 0;
      out["logprobs"] = CompletionLogprobsJson(choice.logprobs, &text_offset);
    }
    out["finish_reason"] = FinishReasonJson(choice.finish);
    choices.push_back(std::move(out));
  }
  nlohmann::json body = envelope_.Json(chat ? "chat.completion" : "text_completion");
  body["choices"] = std::move(choices);
  body["usage"] = UsageJson(usage_);
  return body;
}

}  // namespace trustformers::server::openai
