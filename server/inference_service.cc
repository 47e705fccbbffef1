#include "server/inference_service.h"

#include <algorithm>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/generate_conversion.h"
#include "server/generate_reactor.h"
#include "server/status_mapping.h"

namespace trustformers::server {
namespace {

constexpr size_t kMaxRequestIdLength = 128;

engine::Truncation TruncationFromProto(v1::Truncation truncation) {
  switch (truncation) {
    case v1::TRUNCATION_NONE:
      return engine::Truncation::kNone;
    case v1::TRUNCATION_END:
      return engine::Truncation::kEnd;
    case v1::TRUNCATION_START:
      return engine::Truncation::kStart;
    default:
      return engine::Truncation::kModelDefault;
  }
}

absl::Status CheckRequestId(const std::string& id) {
  if (id.size() > kMaxRequestIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id has ", id.size(), " characters; at most 128 are allowed"));
  }
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("request_id must be printable ASCII");
    }
  }
  return absl::OkStatus();
}

// A Generate stream refused before it started: finishes with the status, no messages.
class RefusedStream final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  void OnDone() override { delete this; }
};

void SetUsage(const std::vector<int32_t>& token_counts, v1::Usage* usage) {
  int32_t total = 0;
  for (int32_t n : token_counts) total += n;
  usage->set_prompt_tokens(total);
  usage->set_total_tokens(total);
}

}  // namespace

std::string InferenceService::RequestId(const std::string& given, const char* prefix) {
  if (!given.empty()) return given;
  return absl::StrCat(prefix, "-", next_request_id_.fetch_add(1));
}

absl::StatusOr<engine::ModelEntry> InferenceService::ReadyModel(const std::string& name) const {
  if (name.empty()) return absl::InvalidArgumentError("'model' is required");
  absl::StatusOr<engine::ModelEntry> entry = registry_->Get(name);
  if (!entry.ok()) return entry.status();
  if (entry->state == engine::ModelState::kLoading ||
      entry->state == engine::ModelState::kUnloading) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is not ready; retry shortly"));
  }
  if (entry->state == engine::ModelState::kFailed) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' failed to load: ", entry->error));
  }
  return entry;
}

absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> InferenceService::Encoder(
    const std::string& name, const char* task) const {
  absl::StatusOr<engine::ModelEntry> entry = ReadyModel(name);
  if (!entry.ok()) return entry.status();
  if (entry->encoder == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' cannot ", task, ": it is not an encoder model"));
  }
  // A classifier loaded for one of its tasks only (LoadModel's `tasks`) refuses the other;
  // zero-shot Classify on an embedding model (no head) stays allowed.
  auto serves = [&](engine::ModelTask t) {
    return std::find(entry->tasks.begin(), entry->tasks.end(), t) != entry->tasks.end();
  };
  const std::string_view asked(task);
  if ((asked == "embed" && !serves(engine::ModelTask::kEmbed)) ||
      (asked == "classify" && entry->encoder->can_classify() &&
       !serves(engine::ModelTask::kClassify))) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' was loaded without the ", task, " task"));
  }
  return entry->encoder;
}

grpc::ServerUnaryReactor* InferenceService::Embed(grpc::CallbackServerContext* context,
                                                  const v1::EmbedRequest* request,
                                                  v1::EmbedResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (absl::Status s = CheckRequestId(request->request_id()); !s.ok())
    return FinishUnary(context, s);
  absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> encoder =
      Encoder(request->model(), "embed");
  if (!encoder.ok()) return FinishUnary(context, encoder.status());

  engine::EmbedCall call;
  call.texts.assign(request->inputs().begin(), request->inputs().end());
  for (const v1::TokenIds& ids : request->input_token_ids()) {
    call.token_ids.emplace_back(ids.ids().begin(), ids.ids().end());
  }
  if (call.texts.empty() == call.token_ids.empty()) {
    return FinishUnary(
        context, absl::InvalidArgumentError("give exactly one of 'inputs' and 'input_token_ids'"));
  }
  switch (request->pooling()) {
    case v1::POOLING_MEAN:
      call.pooling = engine::Pooling::kMean;
      break;
    case v1::POOLING_CLS:
      call.pooling = engine::Pooling::kFirst;
      break;
    case v1::POOLING_MAX:
      call.pooling = engine::Pooling::kMax;
      break;
    case v1::POOLING_LAST:
      call.pooling = engine::Pooling::kLast;
      break;
    default:
      break;
  }
  if (request->has_normalize()) call.normalize = request->normalize();
  if (request->has_dimensions()) call.dimensions = request->dimensions();
  call.truncation = TruncationFromProto(request->truncation());

  response->set_model(request->model());
  response->set_request_id(RequestId(request->request_id(), "embed"));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::shared_ptr<engine::EncoderEngine> keep = *encoder;
  keep->Embed(
      std::move(call), [context] { return context->IsCancelled(); },
      [reactor, response, keep](absl::StatusOr<engine::EmbedResult> result) {
        if (result.ok()) {
          for (size_t i = 0; i < result->embeddings.size(); ++i) {
            v1::Embedding* embedding = response->add_embeddings();
            embedding->mutable_values()->Add(result->embeddings[i].begin(),
                                             result->embeddings[i].end());
            embedding->set_index(static_cast<int32_t>(i));
            embedding->set_token_count(result->token_counts[i]);
          }
          SetUsage(result->token_counts, response->mutable_usage());
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Classify(grpc::CallbackServerContext* context,
                                                     const v1::ClassifyRequest* request,
                                                     v1::ClassifyResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (absl::Status s = CheckRequestId(request->request_id()); !s.ok())
    return FinishUnary(context, s);
  absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> encoder =
      Encoder(request->model(), "classify");
  if (!encoder.ok()) return FinishUnary(context, encoder.status());

  engine::ClassifyCall call;
  call.texts.assign(request->inputs().begin(), request->inputs().end());
  call.text_pairs.assign(request->text_pairs().begin(), request->text_pairs().end());
  call.top_k = request->top_k();
  call.candidate_labels.assign(request->candidate_labels().begin(),
                               request->candidate_labels().end());
  switch (request->function_to_apply()) {
    case v1::CLASSIFICATION_FUNCTION_SOFTMAX:
      call.function = engine::ScoreFunction::kSoftmax;
      break;
    case v1::CLASSIFICATION_FUNCTION_SIGMOID:
      call.function = engine::ScoreFunction::kSigmoid;
      break;
    case v1::CLASSIFICATION_FUNCTION_NONE:
      call.function = engine::ScoreFunction::kNone;
      break;
    default:
      break;
  }
  call.truncation = TruncationFromProto(request->truncation());

  response->set_model(request->model());
  response->set_request_id(RequestId(request->request_id(), "classify"));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::shared_ptr<engine::EncoderEngine> keep = *encoder;
  keep->Classify(
      std::move(call), [context] { return context->IsCancelled(); },
      [reactor, response, keep](absl::StatusOr<engine::ClassifyResult> result) {
        if (result.ok()) {
          for (size_t i = 0; i < result->labels.size(); ++i) {
            v1::Classification* c = response->add_classifications();
            c->set_index(static_cast<int32_t>(i));
            for (const engine::LabelScore& label : result->labels[i]) {
              v1::LabelScore* out = c->add_labels();
              out->set_label(label.label);
              out->set_id(label.id);
              out->set_score(label.score);
              out->set_logit(label.logit);
            }
          }
          SetUsage(result->token_counts, response->mutable_usage());
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (absl::StatusOr<engine::ModelEntry> entry = ReadyModel(request->model());
      entry.ok() && entry->decoder != nullptr) {
    if (request->return_offsets()) {
      return FinishUnary(
          context,
          absl::UnimplementedError("return_offsets is not available for this model's tokenizer"));
    }
    absl::StatusOr<engine::GenerateInput> input = GenerateInputFromTokenize(*request);
    if (!input.ok()) return FinishUnary(context, input.status());
    absl::StatusOr<engine::PromptTokens> prompt = entry->decoder->Tokenize(*input);
    if (!prompt.ok()) return FinishUnary(context, prompt.status());
    for (int32_t id : prompt->ids) {
      response->add_token_ids(id);
      if (request->return_tokens()) response->add_tokens(entry->decoder->TokenString(id));
    }
    response->set_count(static_cast<int32_t>(prompt->ids.size()));
    response->set_max_model_len(static_cast<int32_t>(entry->decoder->context_length()));
    if (request->has_messages()) response->set_prompt(prompt->text);
    return FinishUnary(context, absl::OkStatus());
  }
  absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> encoder =
      Encoder(request->model(), "tokenize");
  if (!encoder.ok()) return FinishUnary(context, encoder.status());
  if (request->has_messages()) {
    return FinishUnary(context, absl::FailedPreconditionError(absl::StrCat(
                                    "model '", request->model(),
                                    "' has no chat template; send 'text' instead of 'messages'")));
  }
  absl::StatusOr<engine::TokenizeResult> tokens = (*encoder)->TokenizeText(
      request->text(), request->has_add_special_tokens() ? request->add_special_tokens() : true);
  if (!tokens.ok()) return FinishUnary(context, tokens.status());
  for (size_t i = 0; i < tokens->ids.size(); ++i) {
    response->add_token_ids(tokens->ids[i]);
    if (request->return_tokens()) response->add_tokens(tokens->tokens[i]);
    if (request->return_offsets()) {
      v1::Offset* offset = response->add_offsets();
      offset->set_start(tokens->offsets[i].first);
      offset->set_end(tokens->offsets[i].second);
    }
  }
  response->set_count(static_cast<int32_t>(tokens->ids.size()));
  response->set_max_model_len(static_cast<int32_t>((*encoder)->max_input_tokens()));
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const v1::DetokenizeRequest* request,
                                                       v1::DetokenizeResponse* response) {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) {
    return FinishUnary(context, s);
  }
  if (absl::StatusOr<engine::ModelEntry> entry = ReadyModel(request->model());
      entry.ok() && entry->decoder != nullptr) {
    absl::StatusOr<std::string> text = entry->decoder->Detokenize(
        std::vector<int32_t>(request->token_ids().begin(), request->token_ids().end()),
        request->has_skip_special_tokens() ? request->skip_special_tokens() : true);
    if (!text.ok()) return FinishUnary(context, text.status());
    response->set_text(*std::move(text));
    return FinishUnary(context, absl::OkStatus());
  }
  absl::StatusOr<std::shared_ptr<engine::EncoderEngine>> encoder =
      Encoder(request->model(), "detokenize");
  if (!encoder.ok()) return FinishUnary(context, encoder.status());
  absl::StatusOr<std::string> text = (*encoder)->Detokenize(
      std::vector<int32_t>(request->token_ids().begin(), request->token_ids().end()),
      request->has_skip_special_tokens() ? request->skip_special_tokens() : true);
  if (!text.ok()) return FinishUnary(context, text.status());
  response->set_text(*std::move(text));
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  auto refuse = [&](const absl::Status& status) {
    auto* reactor = new RefusedStream();
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  };
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) return refuse(s);
  if (absl::Status s = CheckRequestId(request->request_id()); !s.ok()) return refuse(s);
  absl::StatusOr<engine::ModelEntry> entry = ReadyModel(request->model());
  if (!entry.ok()) return refuse(entry.status());
  if (entry->decoder == nullptr) {
    return refuse(absl::FailedPreconditionError(
        absl::StrCat("model '", request->model(), "' cannot generate: it is not a decoder model")));
  }
  absl::StatusOr<engine::GenerateCall> call = GenerateCallFromProto(*request);
  if (!call.ok()) return refuse(call.status());
  return GenerateReactor::Start(context, entry->decoder, *std::move(call),
                                RequestId(request->request_id(), "gen"), request->model(),
                                request->include_usage());
}

}  // namespace trustformers::server
