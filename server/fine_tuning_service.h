// trustformers.v1.FineTuning over gRPC: uploads into the engine's FileStore, jobs through its
// JobManager, job events streamed from the manager's watchers. Thin: requests and records are
// converted in fine_tuning_conversion, errors mapped in status_mapping; the engine decides.
//
// Threads: no handler waits. An upload appends each chunk as it arrives (the store hashes and
// checks it incrementally); a WatchJob stream queues the events the manager delivers on its own
// threads and writes them one at a time, so a slow client only grows its own queue.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "engine/jobs/file_store.h"
#include "engine/jobs/job_manager.h"
#include "engine/jobs/job_store.h"
#include "server/call_authorizer.h"
#include "trustformers/v1/fine_tuning.grpc.pb.h"

namespace trustformers::server {

// The engine objects the service runs on; they must outlive it. With `manager` null the service
// is off and every call answers UNAVAILABLE with `unavailable_reason`.
struct FineTuningBackend {
  jobs::JobManager* manager = nullptr;
  jobs::JobStore* store = nullptr;
  jobs::FileStore* files = nullptr;
  std::string unavailable_reason = "fine-tuning is not enabled on this server";
};

class FineTuningService final : public v1::FineTuning::CallbackService {
 public:
  explicit FineTuningService(FineTuningBackend backend = {}, Authorizer authorizer = {});
  ~FineTuningService() override;

  grpc::ServerReadReactor<v1::UploadFileRequest>* UploadFile(grpc::CallbackServerContext* context,
                                                             v1::File* response) override;
  grpc::ServerUnaryReactor* GetFile(grpc::CallbackServerContext* context,
                                    const v1::GetFileRequest* request, v1::File* response) override;
  grpc::ServerUnaryReactor* CreateJob(grpc::CallbackServerContext* context,
                                      const v1::CreateJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                   const v1::WatchJobRequest* request) override;

  // Ends every open WatchJob stream with UNAVAILABLE (clients resume with after_sequence) and
  // refuses new ones: call when the server starts to shut down, since following streams would
  // otherwise wait out the grace period for events that no longer come.
  void Shutdown();

 private:
  class WatchReactor;
  friend class WatchReactor;

  // OK, or why a call cannot be served (auth, the service being off).
  absl::Status Admit(grpc::CallbackServerContext* context) const;
  void Forget(WatchReactor* reactor);

  const FineTuningBackend backend_;
  const Authorizer authorizer_;

  std::mutex mutex_;
  std::set<WatchReactor*> watches_;  // open WatchJob streams, guarded by mutex_
  bool shutting_down_ = false;       // guarded by mutex_
};

}  // namespace trustformers::server
