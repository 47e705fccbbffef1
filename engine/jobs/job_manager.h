// The fine-tuning jobs service's engine: it accepts jobs, validates their files, runs them with
// the Trainer on a bounded number of runner threads, records every state change and event in the
// JobStore before anyone hears of it, streams events to watchers, cancels at step boundaries,
// and registers each result as a new model.
//
// Life of a job: CreateJob checks the request and stores the job (VALIDATING_FILES, first event)
// -> the validation thread parses the files with the base model's tokenizer (FAILED with the
// line on a bad record, else QUEUED) -> a runner thread trains it (RUNNING; TrainingStep,
// Evaluation and checkpoint events) -> the model folder is written and registered (SUCCEEDED,
// fine_tuned_model set) or the job FAILED with an error code. CancelJob moves any live job to
// CANCELLED at once; the runner stops at its next step boundary and records nothing more.
//
// Crash safety: Start() looks at the store. Jobs left VALIDATING_FILES are validated again,
// QUEUED ones queued again, and RUNNING ones resume from their newest complete checkpoint (the
// Trainer's checkpoints are crash-safe), or fail with the reason when they cannot. The models
// of SUCCEEDED jobs are registered again (the registry lives in memory), unless deleted.
//
// Threads: every public method may be called from any thread. Watchers are called on the thread
// that appended the event, under the manager's lock: they must only queue work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/jobs/file_store.h"
#include "engine/jobs/job_store.h"
#include "engine/jobs/job_types.h"

namespace trustformers::jobs {

// What the manager needs to know about a base model.
struct BaseModel {
  std::string folder;  // a Hugging Face folder with config.json and tokenizer.json
  // Empty when it can be fine-tuned for sequence classification; else why not.
  std::string not_trainable;
  int64_t max_sequence_length = 512;
  std::vector<std::string> head_labels;  // id2label of an existing classification head
};

// The rest of the server, as the manager sees it.
struct JobManagerHooks {
  // NOT_FOUND for an unknown model name.
  std::function<absl::StatusOr<BaseModel>(const std::string& name)> resolve_base_model;
  // Serves the finished model folder under `name` (ALREADY_EXISTS is treated as done).
  std::function<absl::Status(const std::string& name, const std::string& folder,
                             const std::string& base_model)>
      register_model;
  // Stops serving a model register_model served (a job cancelled while it finished). Optional.
  std::function<absl::Status(const std::string& name)> unregister_model;
  // True while inference requests wait for the CPU: the runner then yields between steps.
  std::function<bool()> inference_waiting;
};

struct JobManagerOptions {
  std::string data_dir;      // jobs/<id>/ (checkpoints, the model) live under it
  int max_running_jobs = 1;  // runner threads
  int max_queued_jobs = 64;  // live jobs beyond this get RESOURCE_EXHAUSTED
  // CPU threads each training job uses (0: all); inference keeps the rest.
  int train_threads = 0;
  // Longest a runner waits between two steps while inference is waiting.
  int64_t max_yield_ms = 500;
};

// Receives a job's events in sequence order.
class JobWatcher {
 public:
  virtual ~JobWatcher() = default;
  virtual void OnEvent(const JobEvent& event) = 0;
};

class JobManager {
 public:
  JobManager(JobManagerOptions options, JobStore* store, FileStore* files, JobManagerHooks hooks);
  ~JobManager();  // stops the threads; running jobs stay RUNNING and resume at the next Start
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Recovers the jobs the store holds (see above) and starts the threads.
  absl::Status Start();
  // Stops accepting work and joins the threads; a running job stops at its next step boundary
  // and stays RUNNING, to resume after a restart. Idempotent.
  void Shutdown();

  // Validates the request (fields, base model, files) and stores the job. Errors as
  // CreateJobRequest's comments say (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION,
  // ALREADY_EXISTS, RESOURCE_EXHAUSTED, UNAVAILABLE after Shutdown).
  absl::StatusOr<Job> CreateJob(const Job& request);
  absl::StatusOr<Job> GetJob(const std::string& id);
  absl::StatusOr<JobPage> ListJobs(int page_size, const std::string& page_token,
                                   const std::vector<JobState>& states);
  // Idempotent: a job already ended is returned unchanged.
  absl::StatusOr<Job> CancelJob(const std::string& id);

  // Delivers the stored events after `after_sequence`, then (with follow) every new one, to
  // `watcher` until the job's terminal state change or Unwatch. Returns the job's state when the
  // replay ended. NOT_FOUND for an unknown job.
  absl::StatusOr<JobState> Watch(const std::string& job_id, int64_t after_sequence, bool follow,
                                 std::shared_ptr<JobWatcher> watcher);
  void Unwatch(const std::string& job_id, const JobWatcher* watcher);

  // A fine-tuned model was deleted: its folder goes too, so a restart does not serve it again.
  // NOT_FOUND when no job produced a model of that name.
  absl::Status ForgetModel(const std::string& name);

  // "ft:<base>:<suffix>:<id>" (or without the suffix), as CreateJobRequest.suffix says.
  static std::string FineTunedModelName(const Job& job);

 private:
  void ValidationLoop();
  void RunnerLoop();
  void Validate(const std::string& job_id);
  void Run(const std::string& job_id);
  enum class Recorded { kYes, kEnded, kStoreError };
  // Appends an event (and the job row with it) unless the job has ended since; notifies the
  // watchers. kEnded: the job had ended, nothing written. kStoreError: the store failed (after
  // retries); the caller puts the job back in its queue rather than losing it.
  Recorded Record(const std::string& job_id, JobEvent event, Job* job);
  Recorded ChangeState(Job* job, JobState to, const std::string& reason, EventLevel level);
  void Fail(Job* job, const std::string& code, const absl::Status& status);
  // After a store error: back into its queue after a pause, to be picked up again.
  void Requeue(const std::string& job_id, bool validation);
  // Runs Validate / Run, failing the job instead of the process on an exception.
  void Guarded(const std::string& job_id, bool validation);
  bool Cancelled(const std::string& job_id);

  JobManagerOptions options_;
  JobStore* store_;
  FileStore* files_;
  JobManagerHooks hooks_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool started_ = false;
  bool stopping_ = false;
  std::deque<std::string> to_validate_;                                       // guarded by mutex_
  std::deque<std::string> to_run_;                                            // guarded by mutex_
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> cancel_flags_;    // guarded by mutex_
  std::map<std::string, std::vector<std::shared_ptr<JobWatcher>>> watchers_;  // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace trustformers::jobs
