#include "server/generate_conversion.h"

#include "absl/strings/str_cat.h"
#include "engine/sampling/rng.h"
#include "google/protobuf/util/json_util.h"
#include "tokenizers/streaming_decoder.h"

namespace trustformers::server {
namespace {

absl::StatusOr<nlohmann::json> StructToJson(const google::protobuf::Struct& value) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(value, &text).ok()) {
    return absl::InvalidArgumentError("chat_template_kwargs cannot be converted to JSON");
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object())
    return absl::InvalidArgumentError("chat_template_kwargs must be an object");
  return parsed;
}

nlohmann::json MessagesToJson(const v1::ChatMessages& messages) {
  nlohmann::json out = nlohmann::json::array();
  for (const v1::ChatMessage& m : messages.messages()) {
    nlohmann::json message = {{"role", m.role()}, {"content", m.content()}};
    if (m.has_name()) message["name"] = m.name();
    out.push_back(std::move(message));
  }
  return out;
}

v1::FinishReason FinishToProto(engine::ChoiceFinish finish) {
  switch (finish) {
    case engine::ChoiceFinish::kStop:
      return v1::FINISH_REASON_STOP;
    case engine::ChoiceFinish::kLength:
      return v1::FINISH_REASON_LENGTH;
    case engine::ChoiceFinish::kStopSequence:
      return v1::FINISH_REASON_STOP_SEQUENCE;
    case engine::ChoiceFinish::kCancelled:
      return v1::FINISH_REASON_CANCELLED;
    case engine::ChoiceFinish::kError:
      return v1::FINISH_REASON_ERROR;
    case engine::ChoiceFinish::kNone:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

// A token's bytes as a string field, which must be UTF-8: a piece of a character becomes U+FFFD
// (token_bytes keeps the exact bytes).
std::string LossyText(const std::string& bytes) {
  tokenizers::Utf8StreamAssembler stream;
  std::string text = stream.Push(bytes);
  return text + stream.Finish();
}

// The prompt options GenerateRequest and TokenizeRequest share (same field names).
template <typename Request>
absl::Status CopyPromptOptions(const Request& request, engine::GenerateInput* in) {
  if (request.has_add_generation_prompt()) {
    in->add_generation_prompt = request.add_generation_prompt();
  }
  if (request.has_add_special_tokens()) in->add_special_tokens = request.add_special_tokens();
  if (request.has_chat_template_kwargs()) {
    absl::StatusOr<nlohmann::json> kwargs = StructToJson(request.chat_template_kwargs());
    if (!kwargs.ok()) return kwargs.status();
    in->template_kwargs = *std::move(kwargs);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::GenerateCall> GenerateCallFromProto(const v1::GenerateRequest& request) {
  engine::GenerateCall call;
  engine::GenerateInput& in = call.input;
  switch (request.input_case()) {
    case v1::GenerateRequest::kPrompt:
      in.kind = engine::GenerateInput::Kind::kPrompt;
      in.prompt = request.prompt();
      break;
    case v1::GenerateRequest::kMessages:
      in.kind = engine::GenerateInput::Kind::kMessages;
      in.messages = MessagesToJson(request.messages());
      break;
    case v1::GenerateRequest::kPromptTokenIds:
      in.kind = engine::GenerateInput::Kind::kTokenIds;
      in.token_ids.assign(request.prompt_token_ids().ids().begin(),
                          request.prompt_token_ids().ids().end());
      if (request.has_add_special_tokens()) {
        return absl::InvalidArgumentError("add_special_tokens does not apply to prompt_token_ids");
      }
      break;
    default:
      return absl::InvalidArgumentError(
          "one of 'prompt', 'messages' or 'prompt_token_ids' is required");
  }
  if (absl::Status s = CopyPromptOptions(request, &in); !s.ok()) return s;
  switch (request.truncation()) {
    case v1::TRUNCATION_START:
      call.truncation = engine::PromptTruncation::kKeepEnd;
      break;
    case v1::TRUNCATION_END:
      call.truncation = engine::PromptTruncation::kKeepStart;
      break;
    default:
      call.truncation = engine::PromptTruncation::kNone;
      break;
  }

  if (request.has_priority()) call.priority = request.priority();
  const v1::SamplingParams& s = request.sampling();
  engine::SamplingParams& p = call.params;
  if (s.has_max_tokens()) {
    p.max_tokens = s.max_tokens();
    call.max_tokens_set = true;
  }
  p.min_tokens = s.min_tokens();
  call.unset = {.temperature = !s.has_temperature(),
                .top_k = !s.has_top_k(),
                .top_p = !s.has_top_p(),
                .min_p = !s.has_min_p(),
                .typical_p = !s.has_typical_p(),
                .repetition_penalty = !s.has_repetition_penalty()};
  p.temperature = s.has_temperature() ? s.temperature() : 1.0f;
  p.top_k = s.has_top_k() ? s.top_k() : 0;
  p.top_p = s.has_top_p() ? s.top_p() : 1.0f;
  p.min_p = s.has_min_p() ? s.min_p() : 0.0f;
  p.typical_p = s.has_typical_p() ? s.typical_p() : 1.0f;
  p.repetition_penalty = s.has_repetition_penalty() ? s.repetition_penalty() : 1.0f;
  p.presence_penalty = s.has_presence_penalty() ? s.presence_penalty() : 0.0f;
  p.frequency_penalty = s.has_frequency_penalty() ? s.frequency_penalty() : 0.0f;
  for (const auto& [id, bias] : s.logit_bias()) p.logit_bias[id] = bias;
  p.seed = s.has_seed() ? s.seed() : engine::RandomSeed();
  p.stop.assign(s.stop().begin(), s.stop().end());
  p.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  p.ignore_eos = s.ignore_eos();
  if (s.has_logprobs()) p.logprobs = s.logprobs();
  p.echo_prompt = s.echo_prompt();
  p.n = s.n();
  p.skip_special_tokens = s.has_skip_special_tokens() ? s.skip_special_tokens() : true;
  return call;
}

absl::StatusOr<engine::GenerateInput> GenerateInputFromTokenize(
    const v1::TokenizeRequest& request) {
  engine::GenerateInput in;
  switch (request.input_case()) {
    case v1::TokenizeRequest::kText:
      in.kind = engine::GenerateInput::Kind::kPrompt;
      in.prompt = request.text();
      break;
    case v1::TokenizeRequest::kMessages:
      in.kind = engine::GenerateInput::Kind::kMessages;
      in.messages = MessagesToJson(request.messages());
      break;
    default:
      return absl::InvalidArgumentError("one of 'text' or 'messages' is required");
  }
  if (absl::Status s = CopyPromptOptions(request, &in); !s.ok()) return s;
  return in;
}

void ChunkToProto(const engine::GenerateChunk& chunk, v1::GenerateResponse* response) {
  response->set_index(chunk.index);
  response->set_text(chunk.text);
  for (int32_t id : chunk.token_ids) response->add_token_ids(id);
  for (const engine::GeneratedTokenLogprob& lp : chunk.logprobs) {
    v1::TokenLogprob* out = response->add_logprobs();
    out->set_token_id(lp.token_id);
    out->set_token(LossyText(lp.token_bytes));
    out->set_token_bytes(lp.token_bytes);
    if (lp.logprob.has_value()) out->set_logprob(*lp.logprob);
    for (const engine::AlternativeLogprob& alt : lp.top) {
      v1::TopLogprob* top = out->add_top_logprobs();
      top->set_token_id(alt.token_id);
      top->set_token(LossyText(alt.token_bytes));
      top->set_token_bytes(alt.token_bytes);
      top->set_logprob(alt.logprob);
    }
  }
  response->set_finish_reason(FinishToProto(chunk.finish));
  if (chunk.matched_stop.has_value()) response->set_matched_stop(*chunk.matched_stop);
  response->set_echo(chunk.echo);
  if (chunk.finish == engine::ChoiceFinish::kError) response->set_error_message(chunk.error);
}

}  // namespace trustformers::server
