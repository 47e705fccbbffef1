#include "server/fine_tuning_service.h"

#include <deque>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/fine_tuning_conversion.h"
#include "server/status_mapping.h"

namespace trustformers::server {
namespace {

constexpr size_t kMaxChunkBytes = 1024 * 1024;

// A reactor that ends the call at once with `status`.
template <class Reactor>
Reactor* Refused(const absl::Status& status) {
  struct Done final : Reactor {
    explicit Done(const absl::Status& s) { this->Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  return new Done(status);
}

// One UploadFile call: the first message describes the file and starts the store's upload,
// every later one appends a chunk; the client closing the stream commits. On any error, a
// cancel or a client that goes away, the upload is dropped, which deletes what it wrote.
class UploadReactor final : public grpc::ServerReadReactor<v1::UploadFileRequest> {
 public:
  UploadReactor(grpc::CallbackServerContext* context, jobs::FileStore* files, v1::File* response)
      : context_(context), files_(files), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (!ok) {
      // The client closed its side (or the call ended: then OnCancel has run or will).
      if (cancelled_ || context_->IsCancelled())
        return FinishLocked(absl::CancelledError("the upload was cancelled"));
      return Commit();
    }
    absl::Status status = upload_ == nullptr ? Begin() : Append();
    if (!status.ok()) return FinishLocked(status);
    request_.Clear();
    StartRead(&request_);
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    upload_.reset();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Begin() {
    if (request_.payload_case() != v1::UploadFileRequest::kMetadata) {
      return absl::InvalidArgumentError(
          "UploadFile: the first message must carry `metadata`, then every later one a `chunk`");
    }
    const v1::FileMetadata& metadata = request_.metadata();
    if (metadata.purpose() != v1::FILE_PURPOSE_FINE_TUNE &&
        metadata.purpose() != v1::FILE_PURPOSE_FINE_TUNE_VALIDATION) {
      return absl::InvalidArgumentError(
          absl::StrCat("UploadFile: metadata.purpose must be FILE_PURPOSE_FINE_TUNE or "
                       "FILE_PURPOSE_FINE_TUNE_VALIDATION, got ",
                       v1::FilePurpose_Name(metadata.purpose())));
    }
    absl::StatusOr<jobs::FilePurpose> purpose = PurposeFromProto(metadata.purpose());
    if (!purpose.ok()) return purpose.status();
    std::optional<int64_t> size;
    if (metadata.has_size_bytes()) size = metadata.size_bytes();
    absl::StatusOr<std::unique_ptr<jobs::Upload>> upload =
        files_->StartUpload(metadata.filename(), *purpose, size, metadata.sha256());
    if (!upload.ok()) return upload.status();
    upload_ = *std::move(upload);
    return absl::OkStatus();
  }

  absl::Status Append() {
    if (request_.payload_case() != v1::UploadFileRequest::kChunk) {
      return absl::InvalidArgumentError(
          "UploadFile: only the first message carries `metadata`; every later one must carry a "
          "`chunk`");
    }
    const std::string& chunk = request_.chunk();
    if (chunk.empty() || chunk.size() > kMaxChunkBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UploadFile: a chunk must hold 1 byte to 1 MiB (1048576 bytes), got ", chunk.size()));
    }
    return upload_->Append(chunk);
  }

  void Commit() {
    if (upload_ == nullptr) {
      return FinishLocked(absl::InvalidArgumentError(
          "UploadFile: the stream ended before its first message (`metadata`)"));
    }
    absl::StatusOr<jobs::StoredFile> stored = upload_->Commit();
    upload_.reset();
    if (stored.ok()) FileToProto(*stored, response_);
    FinishLocked(stored.status());
  }

  void FinishLocked(const absl::Status& status) {
    if (finished_) return;
    finished_ = true;
    upload_.reset();
    Finish(ToGrpcStatus(status));
  }

  grpc::CallbackServerContext* const context_;
  jobs::FileStore* const files_;
  v1::File* const response_;
  std::mutex mutex_;
  v1::UploadFileRequest request_;
  std::unique_ptr<jobs::Upload> upload_;  // guarded by mutex_
  bool cancelled_ = false;                // guarded by mutex_
  bool finished_ = false;                 // guarded by mutex_
};

}  // namespace

// One WatchJob call. The manager calls OnEvent (under its lock, on whatever thread recorded the
// event) first for the stored events, then, with follow, for new ones; each is queued and
// written in turn. gRPC owns the reactor; the manager holds it through a non-owning shared_ptr,
// and OnDone unwatches before deleting it, so no event can reach a deleted reactor.
class FineTuningService::WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent>,
                                              public jobs::JobWatcher {
 public:
  WatchReactor(FineTuningService* service, std::string job_id)
      : service_(service), job_id_(std::move(job_id)) {}

  // Replays and subscribes; the stream may already be finishing when this returns.
  void Start(int64_t after_sequence, bool follow) {
    std::shared_ptr<jobs::JobWatcher> self(this, [](jobs::JobWatcher*) {});
    absl::StatusOr<jobs::JobState> state =
        service_->backend_.manager->Watch(job_id_, after_sequence, follow, self);
    std::lock_guard lock(mutex_);
    if (!state.ok()) {
      outbox_.clear();
      finish_ = ToGrpcStatus(state.status());
    } else if ((!follow || jobs::IsTerminal(*state)) && !finish_.has_value()) {
      // Everything stored is queued; nothing more will come (unless a shutdown already decided
      // how the stream ends).
      finish_ = grpc::Status::OK;
    }
    PumpLocked();
  }

  void OnEvent(const jobs::JobEvent& event) override {
    v1::JobEvent message;
    EventToProto(event, &message);
    std::lock_guard lock(mutex_);
    if (finish_.has_value() || event.sequence <= last_sequence_) return;
    last_sequence_ = event.sequence;
    outbox_.push_back(std::move(message));
    if (event.state_change && jobs::IsTerminal(event.state_change->to)) {
      // The manager forgets watchers after a job's terminal event; the stream ends after it.
      finish_ = grpc::Status::OK;
    }
    PumpLocked();
  }

  // Ends the stream with `status` unless it is ending already.
  void Stop(const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    outbox_.clear();
    finish_ = status;
    PumpLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      // The client is gone: drop what is queued.
      outbox_.clear();
      if (!finish_.has_value()) finish_ = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    }
    PumpLocked();
  }

  void OnCancel() override {
    // Not under mutex_: the manager calls OnEvent under its own lock, so its lock comes first.
    service_->backend_.manager->Unwatch(job_id_, this);
    Stop(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }

  void OnDone() override {
    service_->backend_.manager->Unwatch(job_id_, this);
    service_->Forget(this);
    delete this;
  }

 private:
  // Under mutex_: writes the next queued event, or finishes once all are written.
  void PumpLocked() {
    if (writing_ || finished_) return;
    if (!outbox_.empty()) {
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

  FineTuningService* const service_;
  const std::string job_id_;
  std::mutex mutex_;
  std::deque<v1::JobEvent> outbox_;     // guarded by mutex_
  v1::JobEvent in_flight_;              // the event being written
  bool writing_ = false;                // guarded by mutex_
  int64_t last_sequence_ = 0;           // guarded by mutex_
  std::optional<grpc::Status> finish_;  // how the stream ends once drained, guarded by mutex_
  bool finished_ = false;               // Finish called, guarded by mutex_
};

FineTuningService::FineTuningService(FineTuningBackend backend, Authorizer authorizer)
    : backend_(std::move(backend)), authorizer_(std::move(authorizer)) {}

FineTuningService::~FineTuningService() = default;

absl::Status FineTuningService::Admit(grpc::CallbackServerContext* context) const {
  if (absl::Status s = AuthorizeCall(authorizer_, context); !s.ok()) return s;
  if (backend_.manager == nullptr) return absl::UnavailableError(backend_.unavailable_reason);
  return absl::OkStatus();
}

void FineTuningService::Forget(WatchReactor* reactor) {
  std::lock_guard lock(mutex_);
  watches_.erase(reactor);
}

void FineTuningService::Shutdown() {
  std::lock_guard lock(mutex_);
  shutting_down_ = true;
  for (WatchReactor* reactor : watches_) {
    reactor->Stop(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "the server is shutting down; resume with after_sequence"));
  }
}

grpc::ServerReadReactor<v1::UploadFileRequest>* FineTuningService::UploadFile(
    grpc::CallbackServerContext* context, v1::File* response) {
  if (absl::Status s = Admit(context); !s.ok()) {
    return Refused<grpc::ServerReadReactor<v1::UploadFileRequest>>(s);
  }
  return new UploadReactor(context, backend_.files, response);
}

grpc::ServerUnaryReactor* FineTuningService::GetFile(grpc::CallbackServerContext* context,
                                                     const v1::GetFileRequest* request,
                                                     v1::File* response) {
  if (absl::Status s = Admit(context); !s.ok()) return FinishUnary(context, s);
  if (request->file_id().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("GetFile: 'file_id' is required"));
  }
  absl::StatusOr<jobs::StoredFile> file = backend_.store->GetFile(request->file_id());
  if (file.ok()) FileToProto(*file, response);
  return FinishUnary(context, file.status());
}

grpc::ServerUnaryReactor* FineTuningService::CreateJob(grpc::CallbackServerContext* context,
                                                       const v1::CreateJobRequest* request,
                                                       v1::Job* response) {
  if (absl::Status s = Admit(context); !s.ok()) return FinishUnary(context, s);
  absl::StatusOr<jobs::Job> job = JobRequestFromProto(*request);
  if (!job.ok()) return FinishUnary(context, job.status());
  absl::StatusOr<jobs::Job> created = backend_.manager->CreateJob(*job);
  if (created.ok()) JobToProto(*created, response);
  return FinishUnary(context, created.status());
}

grpc::ServerUnaryReactor* FineTuningService::GetJob(grpc::CallbackServerContext* context,
                                                    const v1::GetJobRequest* request,
                                                    v1::Job* response) {
  if (absl::Status s = Admit(context); !s.ok()) return FinishUnary(context, s);
  if (request->job_id().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("GetJob: 'job_id' is required"));
  }
  absl::StatusOr<jobs::Job> job = backend_.manager->GetJob(request->job_id());
  if (job.ok()) JobToProto(*job, response);
  return FinishUnary(context, job.status());
}

grpc::ServerUnaryReactor* FineTuningService::ListJobs(grpc::CallbackServerContext* context,
                                                      const v1::ListJobsRequest* request,
                                                      v1::ListJobsResponse* response) {
  if (absl::Status s = Admit(context); !s.ok()) return FinishUnary(context, s);
  if (request->page_size() < 0) {
    return FinishUnary(
        context, absl::InvalidArgumentError(
                     absl::StrCat("ListJobs: page_size must be >= 0, got ", request->page_size())));
  }
  std::vector<jobs::JobState> states;
  for (int state : request->states()) {
    absl::StatusOr<jobs::JobState> converted = StateFromProto(static_cast<v1::JobState>(state));
    if (!converted.ok()) {
      return FinishUnary(context, absl::InvalidArgumentError(absl::StrCat(
                                      "ListJobs: states: ", converted.status().message())));
    }
    states.push_back(*converted);
  }
  absl::StatusOr<jobs::JobPage> page = backend_.manager->ListJobs(
      std::min(request->page_size(), 100), request->page_token(), states);
  if (page.ok()) {
    for (const jobs::Job& job : page->jobs) JobToProto(job, response->add_jobs());
    response->set_next_page_token(page->next_page_token);
  }
  return FinishUnary(context, page.status());
}

grpc::ServerUnaryReactor* FineTuningService::CancelJob(grpc::CallbackServerContext* context,
                                                       const v1::CancelJobRequest* request,
                                                       v1::Job* response) {
  if (absl::Status s = Admit(context); !s.ok()) return FinishUnary(context, s);
  if (request->job_id().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError("CancelJob: 'job_id' is required"));
  }
  absl::StatusOr<jobs::Job> job = backend_.manager->CancelJob(request->job_id());
  if (job.ok()) JobToProto(*job, response);
  return FinishUnary(context, job.status());
}

grpc::ServerWriteReactor<v1::JobEvent>* FineTuningService::WatchJob(
    grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) {
  if (absl::Status s = Admit(context); !s.ok()) {
    return Refused<grpc::ServerWriteReactor<v1::JobEvent>>(s);
  }
  if (request->job_id().empty()) {
    return Refused<grpc::ServerWriteReactor<v1::JobEvent>>(
        absl::InvalidArgumentError("WatchJob: 'job_id' is required"));
  }
  auto* reactor = new WatchReactor(this, request->job_id());
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) {
      delete reactor;
      return Refused<grpc::ServerWriteReactor<v1::JobEvent>>(absl::UnavailableError(
          "the server is shutting down; retry WatchJob on another instance"));
    }
    watches_.insert(reactor);
  }
  reactor->Start(request->after_sequence(), request->follow());
  return reactor;
}

}  // namespace trustformers::server
