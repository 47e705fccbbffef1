#include "server/http/fine_tuning_routes.h"

#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/json_io.h"
#include "server/http/multipart.h"
#include "server/http/openai/fine_tuning_json.h"
#include "server/http/openai/json_output.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::http {
namespace {

constexpr size_t kChunkBytes = 1024 * 1024;
constexpr int64_t kFormOverheadBytes = 1024 * 1024;
constexpr size_t kMaxPurposeBytes = 256;

// An error of a route about one object: NOT_FOUND gets `not_found_code` (OpenAI's kind of code)
// instead of the gateway's default "model_not_found".
void RespondObjectError(HttpExchange& exchange, const grpc::Status& status,
                        const char* not_found_code, const char* param) {
  openai::ApiError error = openai::ApiErrorFromStatus(FromGrpcStatus(status));
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    error.code = not_found_code;
    error.param = param;
  }
  RespondApiError(exchange, error);
}

// ?limit= as an integer in [1, max], `fallback` when absent; false (and a 400 sent) otherwise.
bool ReadLimit(HttpExchange& exchange, int64_t fallback, int64_t max, int64_t* out) {
  const auto& query = exchange.request().query;
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty()) {
    *out = fallback;
    return true;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < 1 || value > max) {
    RespondError(exchange, openai::ParamError("limit", openai::kInvalidValue,
                                              absl::StrCat("'limit' must be an integer in [1, ",
                                                           max, "], got '", it->second, "'")));
    return false;
  }
  *out = value;
  return true;
}

std::string QueryValue(const HttpExchange& exchange, const char* key) {
  const auto& query = exchange.request().query;
  auto it = query.find(key);
  return it == query.end() ? "" : it->second;
}

std::string ListJson(nlohmann::json data, bool has_more) {
  nlohmann::json body = {{"object", "list"}, {"data", std::move(data)}, {"has_more", has_more}};
  if (!body["data"].empty()) {
    body["first_id"] = body["data"].front()["id"];
    body["last_id"] = body["data"].back()["id"];
  }
  return openai::DumpJson(body);
}

// POST /v1/files: the multipart body read a piece at a time; the `file` part streamed into an
// UploadFile call. Owns itself: the body reads hold it, and gRPC does (self_) from the call's
// start until OnDone.
class FileUploadRun final : public grpc::ClientWriteReactor<v1::UploadFileRequest>,
                            public std::enable_shared_from_this<FileUploadRun> {
 public:
  FileUploadRun(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange)
      : bridge_(bridge), exchange_(std::move(exchange)) {}

  void Start() {
    absl::StatusOr<std::string> boundary = MultipartBoundary(exchange_->request().content_type);
    if (!boundary.ok()) return RespondError(*exchange_, boundary.status());
    reader_.emplace(
        *std::move(boundary),
        MultipartReader::Callbacks{[this](const MultipartPart& part) { return OnPart(part); },
                                   [this](absl::string_view bytes) { return OnData(bytes); },
                                   [this] { return OnPartEnd(); }});
    exchange_->OnClientGone([weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mutex_);
        self->FailLocked(absl::CancelledError("the client went away"), /*respond=*/false);
      }
    });
    std::lock_guard lock(mutex_);
    ReadMoreLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      // The server ended the call (an error); OnDone says why.
      broken_ = true;
      RemoveHoldLocked();
      return;
    }
    PumpLocked();
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<FileUploadRun> keep;
    {
      std::lock_guard lock(mutex_);
      if (!failed_) {
        failed_ = true;  // answered: nothing more goes out
        if (status.ok()) {
          RespondJson(*exchange_, 200, openai::DumpJson(openai::FileJson(response_)));
        } else {
          RespondError(*exchange_, FromGrpcStatus(status),
                       status.error_code() == grpc::StatusCode::INVALID_ARGUMENT
                           ? std::optional<std::string>("file")
                           : std::nullopt);
        }
      }
      keep = std::move(self_);
    }
    // `keep` may be the last reference.
  }

 private:
  void ReadMoreLocked() {
    reading_ = true;
    exchange_->ReadBody(
        [self = shared_from_this()](absl::StatusOr<BodyPiece> piece) { self->OnPiece(piece); });
  }

  void OnPiece(absl::StatusOr<BodyPiece>& piece) {
    std::lock_guard lock(mutex_);
    reading_ = false;
    if (failed_) return;
    if (!piece.ok()) {
      // OUT_OF_RANGE: the session answered 413 already; CANCELLED: nobody to answer.
      return FailLocked(piece.status(), /*respond=*/false);
    }
    absl::Status status = reader_->Feed(piece->bytes);
    if (status.ok() && piece->last) {
      body_done_ = true;
      status = reader_->Finish();
      if (status.ok() && !file_seen_) {
        status = openai::ParamError("file", openai::kMissingParameter,
                                    "the form has no 'file' field: send the JSON Lines file as "
                                    "'file' (and purpose=fine-tune)");
      }
    }
    if (!status.ok()) return FailLocked(status, /*respond=*/true);
    PumpLocked();
  }

  // Multipart callbacks, under mutex_ (they run inside Feed).
  absl::Status OnPart(const MultipartPart& part) {
    part_ = Part::kOther;
    if (part.name == "purpose") {
      part_ = Part::kPurpose;
      purpose_.clear();
    } else if (part.name == "file") {
      if (file_seen_) {
        return openai::ParamError("file", openai::kInvalidValue,
                                  "the form holds more than one 'file'; upload one at a time");
      }
      file_seen_ = true;
      if (purpose_.empty()) {
        return openai::ParamError("purpose", openai::kMissingParameter,
                                  "the form's 'purpose' field (fine-tune) must come before its "
                                  "'file' field");
      }
      absl::StatusOr<v1::FilePurpose> purpose = openai::FilePurposeFromOpenAi(purpose_);
      if (!purpose.ok()) return purpose.status();
      part_ = Part::kFile;
      StartUploadLocked(part.filename.value_or("upload.jsonl"), *purpose);
    }
    return absl::OkStatus();
  }

  absl::Status OnData(absl::string_view bytes) {
    if (part_ == Part::kPurpose) {
      if (purpose_.size() + bytes.size() > kMaxPurposeBytes) {
        return openai::ParamError("purpose", openai::kInvalidValue, "'purpose' is too long");
      }
      purpose_.append(bytes.data(), bytes.size());
    } else if (part_ == Part::kFile) {
      pending_.append(bytes.data(), bytes.size());
      while (pending_.size() >= kChunkBytes) {
        QueueChunkLocked(pending_.substr(0, kChunkBytes));
        pending_.erase(0, kChunkBytes);
      }
    }
    return absl::OkStatus();
  }

  absl::Status OnPartEnd() {
    if (part_ == Part::kFile && !pending_.empty()) {
      QueueChunkLocked(std::move(pending_));
      pending_.clear();
    }
    part_ = Part::kOther;
    return absl::OkStatus();
  }

  void StartUploadLocked(const std::string& filename, v1::FilePurpose purpose) {
    v1::UploadFileRequest first;
    first.mutable_metadata()->set_filename(filename);
    first.mutable_metadata()->set_purpose(purpose);
    outbox_.push_back(std::move(first));
    GrpcBridge::Prepare(*exchange_, &context_);
    self_ = shared_from_this();
    started_ = true;
    bridge_->fine_tuning().async()->UploadFile(&context_, &response_, this);
    AddHold();  // released once we issue nothing more (RemoveHoldLocked)
    StartCall();
  }

  void QueueChunkLocked(std::string bytes) {
    v1::UploadFileRequest chunk;
    chunk.set_chunk(std::move(bytes));
    outbox_.push_back(std::move(chunk));
  }

  // Writes the next queued message; with nothing queued, reads more of the body, or, once the
  // body is all read, closes the upload (the service then checks and stores the file).
  void PumpLocked() {
    if (failed_ || writing_ || broken_) return;
    if (!outbox_.empty()) {
      in_flight_ = std::move(outbox_.front());
      outbox_.pop_front();
      writing_ = true;
      StartWrite(&in_flight_);
      return;
    }
    if (!body_done_) {
      if (!reading_) ReadMoreLocked();
      return;
    }
    if (started_ && !writes_done_) {
      writes_done_ = true;
      StartWritesDone();
      RemoveHoldLocked();
    }
  }

  void FailLocked(const absl::Status& status, bool respond) {
    if (failed_) return;
    failed_ = true;
    if (respond) RespondError(*exchange_, status);
    if (started_) {
      context_.TryCancel();
      RemoveHoldLocked();
    }
  }

  void RemoveHoldLocked() {
    if (!started_ || hold_removed_) return;
    hold_removed_ = true;
    RemoveHold();
  }

  enum class Part { kOther, kPurpose, kFile };

  GrpcBridge* const bridge_;
  const std::shared_ptr<HttpExchange> exchange_;
  std::mutex mutex_;
  std::optional<MultipartReader> reader_;
  Part part_ = Part::kOther;
  std::string purpose_;
  std::string pending_;  // file bytes not yet a whole chunk
  bool file_seen_ = false;
  bool body_done_ = false;
  bool reading_ = false;

  grpc::ClientContext context_;
  v1::File response_;
  std::deque<v1::UploadFileRequest> outbox_;
  v1::UploadFileRequest in_flight_;
  std::shared_ptr<FileUploadRun> self_;  // set while the call runs
  bool started_ = false;
  bool writing_ = false;
  bool writes_done_ = false;
  bool hold_removed_ = false;
  bool broken_ = false;
  bool failed_ = false;  // answered (or nobody to answer): nothing more goes out
};

// WatchJob without follow: every stored event after `after_sequence`, then `done` once.
class EventReader final : public grpc::ClientReadReactor<v1::JobEvent> {
 public:
  using Done = std::function<void(const grpc::Status&, std::vector<v1::JobEvent>)>;

  static void Start(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange,
                    std::string job_id, Done done) {
    auto reader = std::make_shared<EventReader>(std::move(done));
    reader->request_.set_job_id(std::move(job_id));
    GrpcBridge::Prepare(*exchange, &reader->context_);
    exchange->OnClientGone([weak = std::weak_ptr<EventReader>(reader)] {
      if (auto alive = weak.lock()) alive->context_.TryCancel();
    });
    EventReader& self = *reader;
    self.self_ = std::move(reader);
    bridge->fine_tuning().async()->WatchJob(&self.context_, &self.request_, &self);
    self.StartRead(&self.event_);
    self.StartCall();
  }

  explicit EventReader(Done done) : done_(std::move(done)) {}

  void OnReadDone(bool ok) override {
    if (!ok) return;
    events_.push_back(std::move(event_));
    event_.Clear();
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override {
    done_(status, std::move(events_));
    done_ = nullptr;
    self_.reset();  // may destroy this
  }

 private:
  grpc::ClientContext context_;
  v1::WatchJobRequest request_;
  v1::JobEvent event_;
  std::vector<v1::JobEvent> events_;
  Done done_;
  std::shared_ptr<EventReader> self_;
};

// GET /v1/fine_tuning/jobs: pages of ListJobs until `limit` jobs after `after` (a job id) are
// found, and one more to know whether there are more.
class JobLister : public std::enable_shared_from_this<JobLister> {
 public:
  JobLister(GrpcBridge* bridge, std::shared_ptr<HttpExchange> exchange, std::string after,
            int64_t limit)
      : bridge_(bridge),
        exchange_(std::move(exchange)),
        after_(std::move(after)),
        limit_(limit),
        passed_after_(after_.empty()) {}

  void Next(std::string page_token) {
    v1::ListJobsRequest request;
    request.set_page_size(100);
    request.set_page_token(std::move(page_token));
    v1::FineTuning::Stub::async_interface* stub = bridge_->fine_tuning().async();
    bridge_->Unary<v1::ListJobsRequest, v1::ListJobsResponse>(
        exchange_, std::move(request),
        [stub](auto* context, auto* message, auto* response, auto done) {
          stub->ListJobs(context, message, response, std::move(done));
        },
        [self = shared_from_this()](const grpc::Status& status,
                                    const v1::ListJobsResponse& response) {
          self->OnPage(status, response);
        });
  }

 private:
  void OnPage(const grpc::Status& status, const v1::ListJobsResponse& response) {
    if (!status.ok()) return RespondError(*exchange_, FromGrpcStatus(status));
    for (const v1::Job& job : response.jobs()) {
      if (!passed_after_) {
        passed_after_ = job.id() == after_;
        continue;
      }
      if (static_cast<int64_t>(data_.size()) == limit_) return Answer(/*has_more=*/true);
      data_.push_back(openai::FineTuningJobJson(job));
    }
    if (response.next_page_token().empty()) return Answer(/*has_more=*/false);
    Next(response.next_page_token());
  }

  void Answer(bool has_more) { RespondJson(*exchange_, 200, ListJson(std::move(data_), has_more)); }

  GrpcBridge* const bridge_;
  const std::shared_ptr<HttpExchange> exchange_;
  const std::string after_;
  const int64_t limit_;
  bool passed_after_;
  nlohmann::json data_ = nlohmann::json::array();
};

template <class Request, class Response, class Invoke, class Render>
void Unary(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange, Request request,
           Invoke invoke, const char* not_found_code, const char* param, Render render) {
  bridge->Unary<Request, Response>(
      exchange, std::move(request), invoke,
      [exchange, not_found_code, param, render](const grpc::Status& status,
                                                const Response& response) {
        if (!status.ok()) return RespondObjectError(*exchange, status, not_found_code, param);
        RespondJson(*exchange, 200, openai::DumpJson(render(response)));
      });
}

void GetJob(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange, std::string job_id,
            std::function<void(const v1::Job&)> then) {
  v1::GetJobRequest request;
  request.set_job_id(std::move(job_id));
  v1::FineTuning::Stub::async_interface* stub = bridge->fine_tuning().async();
  bridge->Unary<v1::GetJobRequest, v1::Job>(
      exchange, std::move(request),
      [stub](auto* context, auto* message, auto* response, auto done) {
        stub->GetJob(context, message, response, std::move(done));
      },
      [exchange, then = std::move(then)](const grpc::Status& status, const v1::Job& job) {
        if (!status.ok()) {
          return RespondObjectError(*exchange, status, "fine_tuning_job_not_found",
                                    "fine_tuning_job_id");
        }
        then(job);
      });
}

void CreateJob(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange) {
  absl::StatusOr<nlohmann::json> body = ParseJsonBody(exchange->request().body);
  if (!body.ok()) return RespondError(*exchange, body.status());
  absl::StatusOr<v1::CreateJobRequest> request = openai::ParseCreateFineTuningJob(*body);
  if (!request.ok()) return RespondError(*exchange, request.status());
  const std::string training_file = request->training_file();
  const std::string validation_file = request->validation_file();
  v1::FineTuning::Stub::async_interface* stub = bridge->fine_tuning().async();
  bridge->Unary<v1::CreateJobRequest, v1::Job>(
      exchange, *std::move(request),
      [stub](auto* context, auto* message, auto* response, auto done) {
        stub->CreateJob(context, message, response, std::move(done));
      },
      [exchange, training_file, validation_file](const grpc::Status& status, const v1::Job& job) {
        if (status.ok()) {
          return RespondJson(*exchange, 200, openai::DumpJson(openai::FineTuningJobJson(job)));
        }
        openai::ApiError error = openai::ApiErrorFromStatus(FromGrpcStatus(status));
        // Name the field the service complained about, where its message says which.
        const std::string& message = status.error_message();
        if (absl::StrContains(message, "training_file") ||
            absl::StrContains(message, training_file)) {
          error.param = "training_file";
        } else if (!validation_file.empty() && (absl::StrContains(message, "validation_file") ||
                                                absl::StrContains(message, validation_file))) {
          error.param = "validation_file";
        } else if (absl::StrContains(message, "hyperparameters.")) {
          const size_t at = message.find("hyperparameters.");
          const size_t end = message.find(' ', at);
          error.param = message.substr(at, end == std::string::npos ? end : end - at);
        } else if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
                   status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
          error.param = "model";
        }
        if (status.error_code() == grpc::StatusCode::NOT_FOUND && error.param != "model") {
          error.code = "file_not_found";
        }
        RespondApiError(*exchange, error);
      });
}

void ListEvents(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange) {
  const std::string job_id = exchange->request().path_params.at("job_id");
  int64_t limit = 0;
  if (!ReadLimit(*exchange, 20, 1000, &limit)) return;
  std::optional<int64_t> before;  // events older than `after`, newest first
  if (const std::string after = QueryValue(*exchange, "after"); !after.empty()) {
    before = openai::EventSequence(job_id, after);
    if (!before) {
      return RespondError(*exchange,
                          openai::ParamError("after", openai::kInvalidValue,
                                             absl::StrCat("'after' must be the id of one of job ",
                                                          job_id, "'s events, got '", after, "'")));
    }
  }
  EventReader::Start(
      bridge, exchange, job_id,
      [exchange, limit, before](const grpc::Status& status, std::vector<v1::JobEvent> events) {
        if (!status.ok()) {
          return RespondObjectError(*exchange, status, "fine_tuning_job_not_found",
                                    "fine_tuning_job_id");
        }
        nlohmann::json data = nlohmann::json::array();
        bool has_more = false;
        for (auto it = events.rbegin(); it != events.rend(); ++it) {
          if (before && it->sequence() >= *before) continue;
          if (static_cast<int64_t>(data.size()) == limit) {
            has_more = true;
            break;
          }
          data.push_back(openai::FineTuningEventJson(*it));
        }
        RespondJson(*exchange, 200, ListJson(std::move(data), has_more));
      });
}

void ListCheckpoints(GrpcBridge* bridge, const std::shared_ptr<HttpExchange>& exchange) {
  int64_t limit = 0;
  if (!ReadLimit(*exchange, 10, 100, &limit)) return;
  const std::string after = QueryValue(*exchange, "after");
  GetJob(bridge, exchange, exchange->request().path_params.at("job_id"),
         [exchange, limit, after](const v1::Job& job) {
           nlohmann::json data = nlohmann::json::array();
           bool passed = after.empty();
           bool has_more = false;
           // Newest first.
           for (int i = job.checkpoints_size() - 1; i >= 0; --i) {
             const v1::Checkpoint& checkpoint = job.checkpoints(i);
             if (!passed) {
               passed = checkpoint.id() == after;
               continue;
             }
             if (static_cast<int64_t>(data.size()) == limit) {
               has_more = true;
               break;
             }
             data.push_back(openai::CheckpointJson(job, checkpoint));
           }
           RespondJson(*exchange, 200, ListJson(std::move(data), has_more));
         });
}

}  // namespace

void AddFineTuningRoutes(Router& router, GrpcBridge* bridge, int64_t max_file_bytes) {
  v1::FineTuning::Stub::async_interface* stub = bridge->fine_tuning().async();
  const int64_t body_limit =
      max_file_bytes > std::numeric_limits<int64_t>::max() - kFormOverheadBytes
          ? std::numeric_limits<int64_t>::max()
          : max_file_bytes + kFormOverheadBytes;

  router.AddStreaming(
      "POST", "/v1/files",
      [bridge](std::shared_ptr<HttpExchange> exchange) {
        std::make_shared<FileUploadRun>(bridge, std::move(exchange))->Start();
      },
      body_limit);
  router.Add("GET", "/v1/files/{file_id}", [bridge, stub](std::shared_ptr<HttpExchange> exchange) {
    v1::GetFileRequest request;
    request.set_file_id(exchange->request().path_params.at("file_id"));
    Unary<v1::GetFileRequest, v1::File>(
        bridge, exchange, std::move(request),
        [stub](auto* context, auto* message, auto* response, auto done) {
          stub->GetFile(context, message, response, std::move(done));
        },
        "file_not_found", "file_id", [](const v1::File& file) { return openai::FileJson(file); });
  });

  router.Add("POST", "/v1/fine_tuning/jobs",
             [bridge](std::shared_ptr<HttpExchange> exchange) { CreateJob(bridge, exchange); });
  router.Add("GET", "/v1/fine_tuning/jobs", [bridge](std::shared_ptr<HttpExchange> exchange) {
    int64_t limit = 0;
    if (!ReadLimit(*exchange, 20, 100, &limit)) return;
    auto lister =
        std::make_shared<JobLister>(bridge, exchange, QueryValue(*exchange, "after"), limit);
    lister->Next("");
  });
  router.Add(
      "GET", "/v1/fine_tuning/jobs/{job_id}", [bridge](std::shared_ptr<HttpExchange> exchange) {
        GetJob(bridge, exchange, exchange->request().path_params.at("job_id"),
               [exchange](const v1::Job& job) {
                 RespondJson(*exchange, 200, openai::DumpJson(openai::FineTuningJobJson(job)));
               });
      });
  router.Add("POST", "/v1/fine_tuning/jobs/{job_id}/cancel",
             [bridge, stub](std::shared_ptr<HttpExchange> exchange) {
               v1::CancelJobRequest request;
               request.set_job_id(exchange->request().path_params.at("job_id"));
               Unary<v1::CancelJobRequest, v1::Job>(
                   bridge, exchange, std::move(request),
                   [stub](auto* context, auto* message, auto* response, auto done) {
                     stub->CancelJob(context, message, response, std::move(done));
                   },
                   "fine_tuning_job_not_found", "fine_tuning_job_id",
                   [](const v1::Job& job) { return openai::FineTuningJobJson(job); });
             });
  router.Add("GET", "/v1/fine_tuning/jobs/{job_id}/events",
             [bridge](std::shared_ptr<HttpExchange> exchange) { ListEvents(bridge, exchange); });
  router.Add(
      "GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints",
      [bridge](std::shared_ptr<HttpExchange> exchange) { ListCheckpoints(bridge, exchange); });
}

}  // namespace trustformers::server::http
