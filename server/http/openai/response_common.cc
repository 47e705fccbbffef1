#include "server/http/openai/response_common.h"

#include "absl/strings/str_cat.h"

namespace trustformers::server::openai {

ResponseOptions ResponseOptionsFor(const ChatCompletionRequest& request) {
  ResponseOptions options;
  options.kind = ApiKind::kChat;
  options.model = request.generate.model();
  options.n = request.n;
  options.logprobs = request.logprobs;
  options.include_usage = request.flags.stream && request.flags.include_usage;
  return options;
}

ResponseOptions ResponseOptionsFor(const CompletionRequest& request) {
  ResponseOptions options;
  options.kind = ApiKind::kCompletion;
  if (!request.generates.empty()) options.model = request.generates[0].model();
  options.n = request.n;
  options.num_prompts = static_cast<int32_t>(request.generates.size());
  options.logprobs = request.logprobs.has_value();
  options.include_usage = request.flags.stream && request.flags.include_usage;
  return options;
}

nlohmann::json FinishReasonJson(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_STOP:
    case v1::FINISH_REASON_STOP_SEQUENCE:
      return "stop";
    case v1::FINISH_REASON_LENGTH:
      return "length";
    default:
      return nullptr;
  }
}

absl::Status ChoiceEndStatus(const v1::GenerateResponse& message) {
  switch (message.finish_reason()) {
    case v1::FINISH_REASON_ERROR:
      return absl::InternalError(
          message.error_message().empty()
              ? "generation failed"
              : absl::StrCat("generation failed: ", message.error_message()));
    case v1::FINISH_REASON_CANCELLED:
      return absl::UnavailableError(
          "the server stopped generating before the end (the model is being unloaded or the "
          "server is shutting down); retry the request");
    default:
      return absl::OkStatus();
  }
}

nlohmann::json UsageJson(const v1::Usage& usage) {
  nlohmann::json out = {{"prompt_tokens", usage.prompt_tokens()},
                        {"completion_tokens", usage.completion_tokens()},
                        {"total_tokens", usage.prompt_tokens() + usage.completion_tokens()}};
  if (usage.cached_prompt_tokens() > 0) {
    out["prompt_tokens_details"] = {{"cached_tokens", usage.cached_prompt_tokens()}};
  }
  return out;
}

void AddUsage(const v1::Usage& from, v1::Usage* to) {
  to->set_prompt_tokens(to->prompt_tokens() + from.prompt_tokens());
  to->set_completion_tokens(to->completion_tokens() + from.completion_tokens());
  to->set_total_tokens(to->prompt_tokens() + to->completion_tokens());
  to->set_cached_prompt_tokens(to->cached_prompt_tokens() + from.cached_prompt_tokens());
}

Envelope::Envelope(const ResponseOptions& options) : options_(options) {}

void Envelope::Observe(const v1::GenerateResponse& message) {
  if (observed_) return;
  observed_ = true;
  id_ = options_.id;
  if (id_.empty()) {
    id_ =
        absl::StrCat(options_.kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-", message.request_id());
  }
  created_ = options_.created.value_or(message.has_created() ? message.created().seconds() : 0);
  model_ = options_.model.empty() ? message.model() : options_.model;
}

nlohmann::json Envelope::Json(const char* object) const {
  nlohmann::json out = {{"id", id_}, {"object", object}, {"created", created_}, {"model", model_}};
  if (options_.system_fingerprint.has_value()) {
    out["system_fingerprint"] = *options_.system_fingerprint;
  }
  return out;
}

int32_t ChoiceIndex(const ResponseOptions& options, const v1::GenerateResponse& message,
                    int32_t prompt_index) {
  if (prompt_index < 0 || prompt_index >= options.num_prompts || message.index() < 0 ||
      message.index() >= options.n) {
    return -1;
  }
  return prompt_index * options.n + message.index();
}

}  // namespace trustformers::server::openai
