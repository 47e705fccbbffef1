#include "server/generate_reactor.h"

#include <chrono>

#include "google/protobuf/util/time_util.h"
#include "server/generate_conversion.h"
#include "server/status_mapping.h"

namespace trustformers::server {

GenerateReactor::GenerateReactor(grpc::CallbackServerContext* context, std::string request_id,
                                 std::string model, bool include_usage)
    : context_(context),
      request_id_(std::move(request_id)),
      model_(std::move(model)),
      include_usage_(include_usage) {}

GenerateReactor* GenerateReactor::Start(grpc::CallbackServerContext* context,
                                        std::shared_ptr<engine::DecoderEngine> engine,
                                        engine::GenerateCall call, std::string request_id,
                                        std::string model, bool include_usage) {
  auto* reactor =
      new GenerateReactor(context, std::move(request_id), std::move(model), include_usage);
  reactor->engine_ = engine;
  // The engine holds the sink without owning it: gRPC owns the reactor.
  std::shared_ptr<engine::GenerateSink> sink(reactor, [](engine::GenerateSink*) {});
  absl::Status submitted = engine->Submit(std::move(call), std::move(sink));
  std::lock_guard<std::mutex> lock(reactor->mutex_);
  if (!submitted.ok()) {
    reactor->finished_ = true;
    reactor->Finish(ToGrpcStatus(submitted));
  } else if (!reactor->writing_ && !reactor->finished_) {
    // Accepted: the headers go out now, so a client (the REST gateway above all) knows at once
    // that its request was admitted, even while it waits in the queue.
    reactor->context_->AddInitialMetadata(kGenerateAdmittedMetadata, "1");
    reactor->StartSendInitialMetadata();
  }
  return reactor;
}

v1::GenerateResponse GenerateReactor::Stamp(v1::GenerateResponse message) {
  message.set_request_id(request_id_);
  message.set_model(model_);
  if (first_) {
    first_ = false;
    *message.mutable_created() = google::protobuf::util::TimeUtil::GetCurrentTime();
  }
  return message;
}

void GenerateReactor::OnChunk(engine::GenerateChunk chunk) {
  v1::GenerateResponse message;
  ChunkToProto(chunk, &message);
  std::lock_guard<std::mutex> lock(mutex_);
  if (held_.has_value()) {
    outbox_.push_back(Stamp(*std::move(held_)));
    held_.reset();
  }
  if (chunk.finish != engine::ChoiceFinish::kNone) {
    held_ = std::move(message);
  } else {
    outbox_.push_back(Stamp(std::move(message)));
  }
  PumpLocked();
}

void GenerateReactor::OnDone(absl::Status status, const engine::GenerateUsage& usage) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (held_.has_value()) {
    if (include_usage_) {
      v1::Usage* u = held_->mutable_usage();
      u->set_prompt_tokens(usage.prompt_tokens);
      u->set_completion_tokens(usage.completion_tokens);
      u->set_total_tokens(usage.prompt_tokens + usage.completion_tokens);
    }
    outbox_.push_back(Stamp(*std::move(held_)));
    held_.reset();
  }
  finish_ = cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled")
                       : ToGrpcStatus(status);
  PumpLocked();
}

bool GenerateReactor::Cancelled() {
  if (cancelled_) return true;
  // A passed deadline also reaches OnCancel, but checking here stops the work one step sooner.
  if (context_->deadline() < std::chrono::system_clock::now()) cancelled_ = true;
  return cancelled_;
}

void GenerateReactor::PumpLocked() {
  if (writing_ || finished_) return;
  if (!outbox_.empty() && !cancelled_) {
    in_flight_ = std::move(outbox_.front());
    outbox_.pop_front();
    writing_ = true;
    StartWrite(&in_flight_);
    return;
  }
  if (finish_.has_value()) {
    finished_ = true;
    Finish(*finish_);
  }
}

void GenerateReactor::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  writing_ = false;
  if (!ok) cancelled_ = true;  // the client is gone: drop what is queued
  if (cancelled_) outbox_.clear();
  PumpLocked();
}

void GenerateReactor::OnCancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  outbox_.clear();
  PumpLocked();
}

void GenerateReactor::OnDone() { delete this; }

}  // namespace trustformers::server
