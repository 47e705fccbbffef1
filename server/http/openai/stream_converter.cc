#include "server/http/openai/stream_converter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/http/openai/logprobs_json.h"

namespace trustformers::server::openai {

StreamConverter::StreamConverter(ResponseOptions options)
    : options_(std::move(options)), envelope_(options_) {
  options_.n = std::max(options_.n, 1);
  options_.num_prompts = std::max(options_.num_prompts, 1);
  choices_.resize(static_cast<size_t>(options_.n) * static_cast<size_t>(options_.num_prompts));
}

nlohmann::json StreamConverter::Chunk(nlohmann::json choices) const {
  nlohmann::json chunk =
      envelope_.Json(options_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion");
  chunk["choices"] = std::move(choices);
  if (options_.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

nlohmann::json StreamConverter::ChoiceJson(Choice& choice, int32_t index,
                                           const v1::GenerateResponse& message, bool finishing) {
  const bool chat = options_.kind == ApiKind::kChat;
  const bool has_text = !message.text().empty();
  // Chat has no prompt logprobs, so an echoed prompt goes without.
  const bool has_logprobs =
      options_.logprobs && message.logprobs_size() > 0 && !(chat && message.echo());
  const bool opens_chat = chat && !choice.started;
  if (!has_text && !has_logprobs && !finishing && !opens_chat) return nullptr;

  nlohmann::json out = {{"index", index}};
  if (chat) {
    nlohmann::json delta = nlohmann::json::object();
    if (opens_chat) delta["role"] = "assistant";
    if (opens_chat || has_text || has_logprobs) delta["content"] = message.text();
    out["delta"] = std::move(delta);
  } else {
    out["text"] = message.text();
  }
  if (!has_logprobs) {
    out["logprobs"] = nullptr;
  } else if (chat) {
    out["logprobs"] = ChatLogprobsJson(message.logprobs());
  } else {
    out["logprobs"] = CompletionLogprobsJson(message.logprobs(), &choice.text_offset);
  }
  out["finish_reason"] = finishing ? FinishReasonJson(message.finish_reason()) : nullptr;
  choice.started = true;
  return out;
}

StreamEvents StreamConverter::Convert(const v1::GenerateResponse& message, int32_t prompt_index) {
  StreamEvents out;
  if (failed_) return out;
  envelope_.Observe(message);
  const int32_t index = ChoiceIndex(options_, message, prompt_index);
  if (index < 0) {
    failed_ = true;
    out.error = ApiErrorFromStatus(absl::InternalError(
        absl::StrCat("the Generate stream of prompt ", prompt_index, " sent choice index ",
                     message.index(), ", outside the request's ", options_.n, " choices")));
    return out;
  }
  Choice& choice = choices_[static_cast<size_t>(index)];
  if (choice.finished) return out;  // the stream protocol sends nothing after a finish
  if (message.has_usage()) AddUsage(message.usage(), &usage_);

  const absl::Status end = ChoiceEndStatus(message);
  const bool finishing = end.ok() && message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
  // Text before a failure is valid output: it goes out before the error.
  if (nlohmann::json c = ChoiceJson(choice, index, message, finishing); !c.is_null()) {
    out.chunks.push_back(Chunk(nlohmann::json::array({std::move(c)})));
  }
  if (!end.ok()) {
    failed_ = true;
    out.error = ApiErrorFromStatus(end);
    return out;
  }
  if (!finishing) return out;
  choice.finished = true;
  ++finished_;
  if (done() && options_.include_usage) {
    nlohmann::json last = Chunk(nlohmann::json::array());
    last["usage"] = UsageJson(usage_);
    out.chunks.push_back(std::move(last));
  }
  return out;
}

}  // namespace trustformers::server::openai
