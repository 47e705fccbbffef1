// The fine-tuning jobs service's durable records: uploaded files, jobs and each job's event log,
// in one SQLite database (the embedded default of issue #8; its path comes from the config).
//
// Durability: the database runs in WAL mode with synchronous=FULL, and every write is one
// transaction committed before the method returns, so whatever a caller reports after a call
// returned OK survives a crash or power loss; a state change and the event that announces it
// are written together or not at all (AppendEvent with a job). Reads see only committed data.
//
// Columns hold what is queried (ids, state, creation time, idempotency key, base model) and the
// rest of each record is JSON text (job_json.h). The schema carries a version so later builds
// can migrate it in place; a database written by a newer build, or a file that is not a job
// store (another SQLite database, a corrupt or foreign file), is refused with an error at Open.
//
// Threads: every method may be called from any thread (one connection behind a mutex). Other
// processes may open the same file at the same time (WAL readers never block the writer);
// writers wait up to the busy timeout for one another, then get UNAVAILABLE.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/jobs/job_types.h"

namespace trustformers::jobs {

namespace sqlite {
class Database;
}

struct JobStoreOptions {
  // How long an idempotency key stays bound to the job it created (CreateJobRequest: 24 hours);
  // after that the key is free for a new job.
  int64_t idempotency_window_ms = int64_t{24} * 60 * 60 * 1000;
  // How long a write waits for another connection's write to finish before UNAVAILABLE.
  int busy_timeout_ms = 5000;
};

// One page of ListJobs.
struct JobPage {
  std::vector<Job> jobs;        // newest first
  std::string next_page_token;  // empty on the last page
};

class JobStore {
 public:
  // Opens the database at `path`, creating the file and its schema when missing and migrating an
  // older schema. The folder must exist. FAILED_PRECONDITION for an SQLite file that is not a
  // job store or is from a newer build, DATA_LOSS for a file that is not a database at all or
  // is corrupt, PERMISSION_DENIED when it cannot be opened for writing.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path,
                                                        const JobStoreOptions& options = {});
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // ---- Files (the bytes live in the FileStore's folder; these are their rows)

  // ALREADY_EXISTS for a known id.
  absl::Status InsertFile(const StoredFile& file);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<StoredFile> GetFile(const std::string& id);
  // Every file, newest first.
  absl::StatusOr<std::vector<StoredFile>> ListFiles();
  // NOT_FOUND for an unknown id. Jobs that name the file keep its id.
  absl::Status DeleteFile(const std::string& id);

  // ---- Jobs

  // Stores a new job and its first event (sequence 1) in one transaction and returns the event
  // as stored (job_id, sequence and created_at_ms filled in). INVALID_ARGUMENT when job.id or
  // job.created_at_ms is unset or the event names another job; ALREADY_EXISTS for a known id,
  // or for an idempotency key that a job created less than idempotency_window_ms before this
  // one holds.
  absl::StatusOr<JobEvent> CreateJob(const Job& job, JobEvent first_event);
  // Replaces the stored job of job.id. NOT_FOUND for an unknown id; FAILED_PRECONDITION when
  // the stored job is in a terminal state and `job` is in another one (terminal states are
  // final, so a runner that lost a race with CancelJob cannot bring the job back).
  absl::Status UpdateJob(const Job& job);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<Job> GetJob(const std::string& id);
  // The job created with `key` within the idempotency window before now (the system clock);
  // nullopt when there is none or `key` is empty.
  absl::StatusOr<std::optional<Job>> FindJobByIdempotencyKey(const std::string& key);
  // A page of jobs in `states` (empty: any state), newest first (created_at_ms, then id,
  // descending). page_size 0 means 20, above 100 means 100, negative is INVALID_ARGUMENT.
  // page_token is "" for the first page, else a next_page_token this store issued for the same
  // `states` (INVALID_ARGUMENT otherwise: tokens are signed with a key kept in the database).
  // Later pages show the jobs as they are now, but never a job created after the first page was
  // read, and no job twice.
  absl::StatusOr<JobPage> ListJobs(int page_size, const std::string& page_token,
                                   const std::vector<JobState>& states);
  // Every job in `states` (empty: any), oldest first: what start-up recovery goes through.
  absl::StatusOr<std::vector<Job>> JobsInStates(const std::vector<JobState>& states);

  // ---- Events

  // Appends `event` to its job's log with the next sequence number (1, 2, 3, ...; whatever the
  // event held is replaced) and created_at_ms = now when unset. With `job_update`, the job row
  // is replaced (as UpdateJob) in the same transaction, so the two are never half-written.
  // event.job_id may be empty when job_update names the job. Returns the event as stored.
  // INVALID_ARGUMENT when no job is named or the two disagree, NOT_FOUND for an unknown job,
  // FAILED_PRECONDITION as UpdateJob (then nothing is written).
  absl::StatusOr<JobEvent> AppendEvent(JobEvent event, const Job* job_update = nullptr);
  // The job's events with sequence > after_sequence, in sequence order, at most `limit` of them
  // (0: all). NOT_FOUND for an unknown job; INVALID_ARGUMENT for negative arguments.
  absl::StatusOr<std::vector<JobEvent>> Events(const std::string& job_id, int64_t after_sequence,
                                               int limit);
  // The sequence of the job's newest event (0 if it has none). NOT_FOUND for an unknown job.
  absl::StatusOr<int64_t> LastSequence(const std::string& job_id);

 private:
  JobStore(std::unique_ptr<sqlite::Database> db, std::string page_token_key,
           JobStoreOptions options);

  std::mutex mutex_;
  const std::unique_ptr<sqlite::Database> db_;  // used under mutex_
  const std::string page_token_key_;            // HMAC key, so tokens from elsewhere do not verify
  const JobStoreOptions options_;
};

}  // namespace trustformers::jobs
