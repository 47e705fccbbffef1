// One Generate call on the gRPC callback API: the engine's sink on one side, a server-streaming
// reactor on the other. Chunks arrive on the engine's thread and are queued; gRPC writes them one
// at a time, so a slow client never blocks the engine (its queue grows instead, bounded by the
// request's max_tokens). A choice's finish message is held until the next chunk or the end so the
// stream's last message can carry usage. A cancelled call (client gone, deadline passed) is seen
// by the engine at its next step.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/decoder_engine.h"
#include "trustformers/v1/inference.pb.h"

namespace trustformers::server {

// Initial metadata a Generate call carries when the engine admitted it (sent at once, before any
// token, so a client can tell "queued" from "refused").
inline constexpr const char* kGenerateAdmittedMetadata = "x-trustformers-admitted";

class GenerateReactor final : public grpc::ServerWriteReactor<v1::GenerateResponse>,
                              public engine::GenerateSink {
 public:
  // Submits the call to `engine`; on a refusal the stream finishes at once with the mapped status.
  static GenerateReactor* Start(grpc::CallbackServerContext* context,
                                std::shared_ptr<engine::DecoderEngine> engine,
                                engine::GenerateCall call, std::string request_id,
                                std::string model, bool include_usage);

  // engine::GenerateSink, on the engine's thread.
  void OnChunk(engine::GenerateChunk chunk) override;
  void OnDone(absl::Status status, const engine::GenerateUsage& usage) override;
  bool Cancelled() override;

  // grpc::ServerWriteReactor.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  GenerateReactor(grpc::CallbackServerContext* context, std::string request_id, std::string model,
                  bool include_usage);
  // Under mutex_: writes the next queued message, or finishes when all are written.
  void PumpLocked();
  v1::GenerateResponse Stamp(v1::GenerateResponse message);

  grpc::CallbackServerContext* context_;
  std::string request_id_;
  std::string model_;
  bool include_usage_;
  // The engine keeps this alive while it runs the request; gRPC deletes the reactor after
  // Finish, which happens only after the engine's OnDone.
  std::shared_ptr<engine::DecoderEngine> engine_;
  std::atomic<bool> cancelled_{false};

  std::mutex mutex_;
  std::deque<v1::GenerateResponse> outbox_;   // guarded by mutex_
  std::optional<v1::GenerateResponse> held_;  // a finish message, guarded by mutex_
  v1::GenerateResponse in_flight_;            // the message being written
  bool writing_ = false;                      // guarded by mutex_
  bool first_ = true;                         // guarded by mutex_
  std::optional<grpc::Status> finish_;        // set by OnDone(status), guarded by mutex_
  bool finished_ = false;                     // guarded by mutex_
};

}  // namespace trustformers::server
