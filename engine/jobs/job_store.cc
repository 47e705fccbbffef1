#include "engine/jobs/job_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/jobs/job_json.h"
#include "engine/jobs/random_id.h"
#include "engine/jobs/sqlite_db.h"
#include "models/nn/durable_file.h"

namespace trustformers::jobs {
namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// PRAGMA application_id of a job store ("TFJS"): tells our databases from other SQLite files.
constexpr int64_t kApplicationId = 0x54464A53;

// kMigrations[v] takes the schema from version v to v + 1, inside the transaction that records
// the new version. Append a step for every change; never edit a step that has shipped.
constexpr const char* kMigrations[] = {
    // 1: files, jobs, events, the page-token key.
    R"sql(
      CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;
      INSERT INTO schema_version (version) VALUES (0);
      CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
      CREATE TABLE files (
        id TEXT PRIMARY KEY,
        filename TEXT NOT NULL,
        purpose TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        line_count INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX files_newest_first ON files (created_at_ms DESC, id DESC);
      -- insert_order only grows (AUTOINCREMENT never reuses a value): page tokens remember the
      -- highest one of the first page so later pages leave out jobs created since.
      CREATE TABLE jobs (
        insert_order INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL,
        base_model TEXT NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      CREATE INDEX jobs_newest_first ON jobs (created_at_ms DESC, id DESC);
      CREATE INDEX jobs_by_state ON jobs (state, created_at_ms DESC, id DESC);
      CREATE INDEX jobs_by_idempotency_key ON jobs (idempotency_key, created_at_ms);
      CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        sequence INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (job_id, sequence)
      ) STRICT, WITHOUT ROWID;
    )sql",
};
constexpr int64_t kSchemaVersion = std::size(kMigrations);

constexpr char kPageTokenKeyName[] = "page_token_hmac_key";
constexpr int kPageTokenKeyBytes = 32;
constexpr size_t kPageTokenMacBytes = 16;
constexpr char kPageTokenVersion[] = "p1";
constexpr int kDefaultPageSize = 20;
constexpr int kMaxPageSize = 100;

constexpr char kJobColumns[] = "id, state, created_at_ms, idempotency_key, base_model, body";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs a statement that yields one integer (a count, a PRAGMA's value).
absl::StatusOr<int64_t> QueryInt(const Database& db, absl::string_view sql) {
  absl::StatusOr<Statement> statement = Statement::Prepare(db, sql);
  if (!statement.ok()) return statement.status();
  absl::StatusOr<bool> row = statement->Step();
  if (!row.ok()) return row.status();
  if (!*row) return db.Error(SQLITE_INTERNAL, absl::StrCat("no result from '", sql, "'"));
  return statement->ColumnInt(0);
}

// Creates or migrates the schema and returns the page-token key; FAILED_PRECONDITION for a
// database that is someone else's or newer than this build.
absl::StatusOr<std::string> PrepareSchema(Database& db) {
  absl::StatusOr<Transaction> transaction = Transaction::Begin(db, Transaction::Kind::kWrite);
  if (!transaction.ok()) return transaction.status();
  absl::StatusOr<int64_t> application_id = QueryInt(db, "PRAGMA application_id");
  if (!application_id.ok()) return application_id.status();
  absl::StatusOr<int64_t> tables =
      QueryInt(db, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'");
  if (!tables.ok()) return tables.status();

  int64_t version = 0;
  if (*application_id == 0 && *tables == 0) {
    // A new (or empty) file: ours from now on.
    if (absl::Status status = db.Exec(absl::StrCat("PRAGMA application_id = ", kApplicationId));
        !status.ok()) {
      return status;
    }
  } else if (*application_id != kApplicationId) {
    return absl::FailedPreconditionError(
        absl::StrCat("job store ", db.path(),
                     ": the file is an SQLite database of another application, not a "
                     "trustformers job store"));
  } else {
    absl::StatusOr<int64_t> stored = QueryInt(db, "SELECT version FROM schema_version");
    if (!stored.ok()) {
      return absl::DataLossError(
          absl::StrCat("job store ", db.path(),
                       ": the schema version is unreadable: ", stored.status().message()));
    }
    version = *stored;
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job store ", db.path(), ": the database has schema version ", version,
        ", written by a newer trustformers; this build knows versions up to ", kSchemaVersion));
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    if (absl::Status status = db.Exec(kMigrations[v]); !status.ok()) return status;
  }
  if (version < kSchemaVersion) {
    if (absl::Status status =
            db.Exec(absl::StrCat("UPDATE schema_version SET version = ", kSchemaVersion));
        !status.ok()) {
      return status;
    }
  }

  std::string key;
  {
    absl::StatusOr<Statement> select =
        Statement::Prepare(db, "SELECT value FROM secrets WHERE name = ?1");
    if (!select.ok()) return select.status();
    select->Bind(1, kPageTokenKeyName);
    absl::StatusOr<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (*row) key = select->ColumnBlob(0);
  }
  if (key.empty()) {
    absl::StatusOr<std::string> bytes = RandomBytes(kPageTokenKeyBytes);
    if (!bytes.ok()) return bytes.status();
    key = *std::move(bytes);
    absl::StatusOr<Statement> insert =
        Statement::Prepare(db, "INSERT INTO secrets (name, value) VALUES (?1, ?2)");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, kPageTokenKeyName).BindBlob(2, key);
    if (absl::Status status = insert->Run(); !status.ok()) return status;
  }
  if (absl::Status status = transaction->Commit(); !status.ok()) return status;
  return key;
}

// ---- rows

absl::StatusOr<StoredFile> ReadFileRow(const Statement& row) {
  StoredFile file;
  file.id = row.ColumnText(0);
  file.filename = row.ColumnText(1);
  const std::string purpose = row.ColumnText(2);
  const std::optional<FilePurpose> known = FilePurposeFromName(purpose);
  if (!known.has_value()) {
    return absl::DataLossError(
        absl::StrCat("file ", file.id, " has an unknown purpose '", purpose, "'"));
  }
  file.purpose = *known;
  file.bytes = row.ColumnInt(3);
  file.sha256 = row.ColumnText(4);
  file.created_at_ms = row.ColumnInt(5);
  file.line_count = row.ColumnInt(6);
  return file;
}

constexpr char kFileColumns[] = "id, filename, purpose, bytes, sha256, created_at_ms, line_count";

// A row selected with kJobColumns first.
absl::StatusOr<Job> ReadJobRow(const Statement& row) {
  Job job;
  job.id = row.ColumnText(0);
  const std::string state = row.ColumnText(1);
  const std::optional<JobState> known = JobStateFromName(state);
  if (!known.has_value()) {
    return absl::DataLossError(absl::StrCat("job ", job.id, " has an unknown state '", state, "'"));
  }
  job.state = *known;
  job.created_at_ms = row.ColumnInt(2);
  job.idempotency_key = row.ColumnText(3);
  job.base_model = row.ColumnText(4);
  if (absl::Status status = DecodeJobBody(row.ColumnText(5), &job); !status.ok()) {
    return absl::DataLossError(absl::StrCat("job ", job.id, ": ", status.message()));
  }
  return job;
}

// Steps through `statement`, reading each row with `read`.
template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> ReadAll(Statement& statement, Reader read) {
  std::vector<T> out;
  while (true) {
    absl::StatusOr<bool> row = statement.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    absl::StatusOr<T> value = read(statement);
    if (!value.ok()) return value.status();
    out.push_back(*std::move(value));
  }
}

// The stored state of job `id`; nullopt when there is no such job.
absl::StatusOr<std::optional<JobState>> StoredState(const Database& db, const std::string& id) {
  absl::StatusOr<Statement> select = Statement::Prepare(db, "SELECT state FROM jobs WHERE id = ?1");
  if (!select.ok()) return select.status();
  select->Bind(1, id);
  absl::StatusOr<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<JobState>();
  const std::string state = select->ColumnText(0);
  const std::optional<JobState> known = JobStateFromName(state);
  if (!known.has_value()) {
    return absl::DataLossError(absl::StrCat("job ", id, " has an unknown state '", state, "'"));
  }
  return known;
}

absl::Status UnknownJob(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
}

// Replaces job.id's row, refusing to move a job out of a terminal state. In a transaction.
absl::Status UpdateJobRow(const Database& db, const Job& job) {
  absl::StatusOr<std::optional<JobState>> stored = StoredState(db, job.id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return UnknownJob(job.id);
  if (IsTerminal(**stored) && job.state != **stored) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job.id, " has already ",
                                                      JobStateName(**stored), "; it cannot become ",
                                                      JobStateName(job.state)));
  }
  absl::StatusOr<Statement> update =
      Statement::Prepare(db,
                         "UPDATE jobs SET state = ?2, created_at_ms = ?3, idempotency_key = ?4, "
                         "base_model = ?5, body = ?6 WHERE id = ?1");
  if (!update.ok()) return update.status();
  update->Bind(1, job.id)
      .Bind(2, JobStateName(job.state))
      .Bind(3, job.created_at_ms)
      .Bind(4, job.idempotency_key)
      .Bind(5, job.base_model)
      .Bind(6, EncodeJobBody(job));
  return update->Run();
}

// Appends `event` (its job_id set, the job known to exist) with the job's next sequence number.
// In a transaction.
absl::StatusOr<JobEvent> InsertEvent(const Database& db, JobEvent event) {
  {
    absl::StatusOr<Statement> last = Statement::Prepare(
        db, "SELECT COALESCE(MAX(sequence), 0) FROM job_events WHERE job_id = ?1");
    if (!last.ok()) return last.status();
    last->Bind(1, event.job_id);
    absl::StatusOr<bool> row = last->Step();
    if (!row.ok()) return row.status();
    event.sequence = last->ColumnInt(0) + 1;
  }
  if (event.created_at_ms == 0) event.created_at_ms = NowMs();
  absl::StatusOr<Statement> insert = Statement::Prepare(
      db, "INSERT INTO job_events (job_id, sequence, created_at_ms, body) VALUES (?1, ?2, ?3, ?4)");
  if (!insert.ok()) return insert.status();
  insert->Bind(1, event.job_id)
      .Bind(2, event.sequence)
      .Bind(3, event.created_at_ms)
      .Bind(4, EncodeEventBody(event));
  if (absl::Status status = insert->Run(); !status.ok()) return status;
  return event;
}

// ---- ListJobs' filter and page tokens

// The filter as a bit set (bit i: JobState i; 0: any state) and the names to match.
struct StateFilter {
  int64_t mask = 0;
  std::vector<std::string> names;
};

StateFilter FilterFor(const std::vector<JobState>& states) {
  StateFilter filter;
  for (JobState state : states) filter.mask |= int64_t{1} << static_cast<int>(state);
  for (int i = 0; i < 63; ++i) {
    if ((filter.mask >> i & 1) != 0) filter.names.push_back(JobStateName(static_cast<JobState>(i)));
  }
  return filter;
}

// Where a page starts: after (created_at_ms, id), among jobs with insert_order <= snapshot.
struct PageCursor {
  int64_t snapshot = 0;
  int64_t created_at_ms = 0;
  std::string id;
};

// " AND state IN (?n, ?n+1, ...)" binding from ?first on; "" for no filter.
std::string StateClause(const StateFilter& filter, int first) {
  if (filter.names.empty()) return "";
  std::vector<std::string> marks;
  for (size_t i = 0; i < filter.names.size(); ++i) {
    marks.push_back(absl::StrCat("?", first + static_cast<int>(i)));
  }
  return absl::StrCat(" AND state IN (", absl::StrJoin(marks, ", "), ")");
}

void BindStates(Statement& statement, const StateFilter& filter, int first) {
  for (size_t i = 0; i < filter.names.size(); ++i) {
    statement.Bind(first + static_cast<int>(i), filter.names[i]);
  }
}

// The MAC that ties a token to this database's key.
std::string SignPageToken(const std::string& key, const std::string& payload) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac),
                     std::min<size_t>(length, kPageTokenMacBytes));
}

absl::Status BadPageToken(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid page_token: ", why));
}

}  // namespace

JobStore::JobStore(std::unique_ptr<Database> db, std::string page_token_key,
                   JobStoreOptions options)
    : db_(std::move(db)), page_token_key_(std::move(page_token_key)), options_(options) {}

JobStore::~JobStore() = default;

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path,
                                                         const JobStoreOptions& options) {
  std::error_code error;
  const bool existed = std::filesystem::exists(path, error);
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, options.busy_timeout_ms);
  if (!db.ok()) return db.status();

  // The first statement that reads the file: anything but an SQLite database fails here.
  {
    absl::StatusOr<Statement> wal = Statement::Prepare(**db, "PRAGMA journal_mode = WAL");
    absl::StatusOr<bool> row = wal.ok() ? wal->Step() : absl::StatusOr<bool>(wal.status());
    if (!row.ok()) {
      if (row.status().code() == absl::StatusCode::kDataLoss) {
        return absl::DataLossError(absl::StrCat(
            "job store ", path, ": the file is not an SQLite database, or it is corrupt (",
            row.status().message(), ")"));
      }
      return row.status();
    }
    const std::string mode = *row ? wal->ColumnText(0) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("job store ", path, ": cannot switch the database to WAL mode (it is in '",
                       mode, "' mode)"));
    }
  }
  // FULL: WAL commits are synced before COMMIT returns, which is what makes a write durable
  // before it is reported. Foreign keys keep events from outliving their job.
  if (absl::Status status = (*db)->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::string> key = PrepareSchema(**db);
  if (!key.ok()) return key.status();
  if (!existed) {
    // The new file's name must survive a crash too.
    std::string folder = std::filesystem::path(path).parent_path().string();
    if (absl::Status status = nn::SyncDirectory(folder.empty() ? "." : folder); !status.ok()) {
      return status;
    }
  }
  return std::unique_ptr<JobStore>(new JobStore(*std::move(db), *std::move(key), options));
}

// ---- Files

absl::Status JobStore::InsertFile(const StoredFile& file) {
  if (file.id.empty()) return absl::InvalidArgumentError("a file needs an id");
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> insert = Statement::Prepare(
      *db_,
      absl::StrCat("INSERT INTO files (", kFileColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  if (!insert.ok()) return insert.status();
  insert->Bind(1, file.id)
      .Bind(2, file.filename)
      .Bind(3, FilePurposeName(file.purpose))
      .Bind(4, file.bytes)
      .Bind(5, file.sha256)
      .Bind(6, file.created_at_ms)
      .Bind(7, file.line_count);
  // One statement outside a transaction is a transaction of its own, committed (and synced)
  // when it completes.
  absl::Status status = insert->Run();
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("a file with id '", file.id, "' exists"));
  }
  return status;
}

absl::StatusOr<StoredFile> JobStore::GetFile(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> select =
      Statement::Prepare(*db_, absl::StrCat("SELECT ", kFileColumns, " FROM files WHERE id = ?1"));
  if (!select.ok()) return select.status();
  select->Bind(1, id);
  absl::StatusOr<std::vector<StoredFile>> files = ReadAll<StoredFile>(*select, ReadFileRow);
  if (!files.ok()) return files.status();
  if (files->empty()) return absl::NotFoundError(absl::StrCat("no file with id '", id, "'"));
  return std::move(files->front());
}

absl::StatusOr<std::vector<StoredFile>> JobStore::ListFiles() {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> select = Statement::Prepare(
      *db_,
      absl::StrCat("SELECT ", kFileColumns, " FROM files ORDER BY created_at_ms DESC, id DESC"));
  if (!select.ok()) return select.status();
  return ReadAll<StoredFile>(*select, ReadFileRow);
}

absl::Status JobStore::DeleteFile(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> remove = Statement::Prepare(*db_, "DELETE FROM files WHERE id = ?1");
  if (!remove.ok()) return remove.status();
  remove->Bind(1, id);
  if (absl::Status status = remove->Run(); !status.ok()) return status;
  if (sqlite3_changes(db_->handle()) == 0) {
    return absl::NotFoundError(absl::StrCat("no file with id '", id, "'"));
  }
  return absl::OkStatus();
}

// ---- Jobs

absl::StatusOr<JobEvent> JobStore::CreateJob(const Job& job, JobEvent first_event) {
  if (job.id.empty()) return absl::InvalidArgumentError("a job needs an id");
  if (job.created_at_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.id, " has no created_at_ms"));
  }
  if (first_event.job_id.empty()) first_event.job_id = job.id;
  if (first_event.job_id != job.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("the first event of job ", job.id, " names job ", first_event.job_id));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kWrite);
  if (!transaction.ok()) return transaction.status();

  absl::StatusOr<std::optional<JobState>> existing = StoredState(*db_, job.id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError(absl::StrCat("a job with id '", job.id, "' exists"));
  }
  if (!job.idempotency_key.empty()) {
    // Serialized by the write lock (BEGIN IMMEDIATE), across processes too: two creations with
    // one key cannot both pass this check.
    absl::StatusOr<Statement> holder =
        Statement::Prepare(*db_,
                           "SELECT id FROM jobs WHERE idempotency_key = ?1 AND created_at_ms > ?2 "
                           "ORDER BY created_at_ms DESC LIMIT 1");
    if (!holder.ok()) return holder.status();
    holder->Bind(1, job.idempotency_key)
        .Bind(2, job.created_at_ms - options_.idempotency_window_ms);
    absl::StatusOr<bool> row = holder->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      return absl::AlreadyExistsError(absl::StrCat("idempotency key '", job.idempotency_key,
                                                   "' is held by job ", holder->ColumnText(0)));
    }
  }
  {
    absl::StatusOr<Statement> insert = Statement::Prepare(
        *db_, absl::StrCat("INSERT INTO jobs (", kJobColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    if (!insert.ok()) return insert.status();
    insert->Bind(1, job.id)
        .Bind(2, JobStateName(job.state))
        .Bind(3, job.created_at_ms)
        .Bind(4, job.idempotency_key)
        .Bind(5, job.base_model)
        .Bind(6, EncodeJobBody(job));
    if (absl::Status status = insert->Run(); !status.ok()) return status;
  }
  absl::StatusOr<JobEvent> event = InsertEvent(*db_, std::move(first_event));
  if (!event.ok()) return event.status();
  if (absl::Status status = transaction->Commit(); !status.ok()) return status;
  return event;
}

absl::Status JobStore::UpdateJob(const Job& job) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kWrite);
  if (!transaction.ok()) return transaction.status();
  if (absl::Status status = UpdateJobRow(*db_, job); !status.ok()) return status;
  return transaction->Commit();
}

absl::StatusOr<Job> JobStore::GetJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> select =
      Statement::Prepare(*db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?1"));
  if (!select.ok()) return select.status();
  select->Bind(1, id);
  absl::StatusOr<std::vector<Job>> jobs = ReadAll<Job>(*select, ReadJobRow);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return UnknownJob(id);
  return std::move(jobs->front());
}

absl::StatusOr<std::optional<Job>> JobStore::FindJobByIdempotencyKey(const std::string& key) {
  if (key.empty()) return std::optional<Job>();
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> select = Statement::Prepare(
      *db_, absl::StrCat("SELECT ", kJobColumns,
                         " FROM jobs WHERE idempotency_key = ?1 AND created_at_ms > ?2 "
                         "ORDER BY created_at_ms DESC LIMIT 1"));
  if (!select.ok()) return select.status();
  select->Bind(1, key).Bind(2, NowMs() - options_.idempotency_window_ms);
  absl::StatusOr<std::vector<Job>> jobs = ReadAll<Job>(*select, ReadJobRow);
  if (!jobs.ok()) return jobs.status();
  if (jobs->empty()) return std::optional<Job>();
  return std::optional<Job>(std::move(jobs->front()));
}

absl::StatusOr<JobPage> JobStore::ListJobs(int page_size, const std::string& page_token,
                                           const std::vector<JobState>& states) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size is ", page_size, "; it must be >= 0"));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  page_size = std::min(page_size, kMaxPageSize);
  const StateFilter filter = FilterFor(states);

  std::optional<PageCursor> cursor;
  if (!page_token.empty()) {
    // Token: web-safe base64 of "p1:<state mask>:<snapshot>:<created_at_ms>:<id>" + its MAC.
    std::string raw;
    if (!absl::WebSafeBase64Unescape(page_token, &raw) || raw.size() <= kPageTokenMacBytes) {
      return BadPageToken("not a token this server issued");
    }
    const std::string payload = raw.substr(0, raw.size() - kPageTokenMacBytes);
    const std::string mac = raw.substr(raw.size() - kPageTokenMacBytes);
    const std::string expected = SignPageToken(page_token_key_, payload);
    if (expected.size() != mac.size() ||
        CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) != 0) {
      return BadPageToken("not a token this server issued");
    }
    std::vector<std::string> parts = absl::StrSplit(payload, absl::MaxSplits(':', 4));
    int64_t mask = 0;
    PageCursor parsed;
    if (parts.size() != 5 || parts[0] != kPageTokenVersion || !absl::SimpleAtoi(parts[1], &mask) ||
        !absl::SimpleAtoi(parts[2], &parsed.snapshot) ||
        !absl::SimpleAtoi(parts[3], &parsed.created_at_ms)) {
      return BadPageToken("not a token this server issued");
    }
    if (mask != filter.mask) {
      return BadPageToken("it was issued for a different `states` filter");
    }
    parsed.id = std::move(parts[4]);
    cursor = std::move(parsed);
  }

  std::lock_guard<std::mutex> lock(mutex_);
  // One read transaction: the snapshot and the page come from the same state of the database.
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kRead);
  if (!transaction.ok()) return transaction.status();
  if (!cursor.has_value()) {
    absl::StatusOr<int64_t> snapshot =
        QueryInt(*db_, "SELECT COALESCE(MAX(insert_order), 0) FROM jobs");
    if (!snapshot.ok()) return snapshot.status();
    cursor = PageCursor{*snapshot, 0, ""};
  }
  const bool after_cursor = !page_token.empty();
  const std::string sql =
      absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE insert_order <= ?1",
                   after_cursor ? " AND (created_at_ms, id) < (?2, ?3)" : "",
                   StateClause(filter, 5), " ORDER BY created_at_ms DESC, id DESC LIMIT ?4");
  absl::StatusOr<Statement> select = Statement::Prepare(*db_, sql);
  if (!select.ok()) return select.status();
  select->Bind(1, cursor->snapshot).Bind(4, int64_t{page_size} + 1);
  if (after_cursor) select->Bind(2, cursor->created_at_ms).Bind(3, cursor->id);
  BindStates(*select, filter, 5);
  absl::StatusOr<std::vector<Job>> jobs = ReadAll<Job>(*select, ReadJobRow);
  if (!jobs.ok()) return jobs.status();

  JobPage page;
  if (jobs->size() > static_cast<size_t>(page_size)) {
    jobs->resize(static_cast<size_t>(page_size));
    const Job& last = jobs->back();
    const std::string payload =
        absl::StrCat(kPageTokenVersion, ":", filter.mask, ":", cursor->snapshot, ":",
                     last.created_at_ms, ":", last.id);
    page.next_page_token =
        absl::WebSafeBase64Escape(payload + SignPageToken(page_token_key_, payload));
  }
  page.jobs = *std::move(jobs);
  return page;
}

absl::StatusOr<std::vector<Job>> JobStore::JobsInStates(const std::vector<JobState>& states) {
  const StateFilter filter = FilterFor(states);
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Statement> select =
      Statement::Prepare(*db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE 1",
                                            StateClause(filter, 1), " ORDER BY created_at_ms, id"));
  if (!select.ok()) return select.status();
  BindStates(*select, filter, 1);
  return ReadAll<Job>(*select, ReadJobRow);
}

// ---- Events

absl::StatusOr<JobEvent> JobStore::AppendEvent(JobEvent event, const Job* job_update) {
  if (event.job_id.empty() && job_update != nullptr) event.job_id = job_update->id;
  if (event.job_id.empty()) return absl::InvalidArgumentError("the event names no job");
  if (job_update != nullptr && job_update->id != event.job_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("an event of job ", event.job_id, " cannot update job ", job_update->id));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kWrite);
  if (!transaction.ok()) return transaction.status();
  if (job_update != nullptr) {
    if (absl::Status status = UpdateJobRow(*db_, *job_update); !status.ok()) return status;
  } else {
    absl::StatusOr<std::optional<JobState>> state = StoredState(*db_, event.job_id);
    if (!state.ok()) return state.status();
    if (!state->has_value()) return UnknownJob(event.job_id);
  }
  absl::StatusOr<JobEvent> stored = InsertEvent(*db_, std::move(event));
  if (!stored.ok()) return stored.status();
  if (absl::Status status = transaction->Commit(); !status.ok()) return status;
  return stored;
}

absl::StatusOr<std::vector<JobEvent>> JobStore::Events(const std::string& job_id,
                                                       int64_t after_sequence, int limit) {
  if (after_sequence < 0 || limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_sequence (", after_sequence, ") and limit (", limit, ") must be >= 0"));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kRead);
  if (!transaction.ok()) return transaction.status();
  absl::StatusOr<Statement> select = Statement::Prepare(
      *db_,
      "SELECT sequence, created_at_ms, body FROM job_events WHERE job_id = ?1 AND sequence > ?2 "
      "ORDER BY sequence LIMIT ?3");
  if (!select.ok()) return select.status();
  select->Bind(1, job_id).Bind(2, after_sequence).Bind(3, limit == 0 ? int64_t{-1} : limit);
  absl::StatusOr<std::vector<JobEvent>> events =
      ReadAll<JobEvent>(*select, [&job_id](const Statement& row) -> absl::StatusOr<JobEvent> {
        JobEvent event;
        event.job_id = job_id;
        event.sequence = row.ColumnInt(0);
        event.created_at_ms = row.ColumnInt(1);
        if (absl::Status status = DecodeEventBody(row.ColumnText(2), &event); !status.ok()) {
          return absl::DataLossError(
              absl::StrCat("job ", job_id, " event ", event.sequence, ": ", status.message()));
        }
        return event;
      });
  if (!events.ok()) return events.status();
  if (events->empty()) {
    // Nothing new, or no such job: only the second is an error.
    absl::StatusOr<std::optional<JobState>> state = StoredState(*db_, job_id);
    if (!state.ok()) return state.status();
    if (!state->has_value()) return UnknownJob(job_id);
  }
  return events;
}

absl::StatusOr<int64_t> JobStore::LastSequence(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*db_, Transaction::Kind::kRead);
  if (!transaction.ok()) return transaction.status();
  absl::StatusOr<std::optional<JobState>> state = StoredState(*db_, job_id);
  if (!state.ok()) return state.status();
  if (!state->has_value()) return UnknownJob(job_id);
  absl::StatusOr<Statement> last = Statement::Prepare(
      *db_, "SELECT COALESCE(MAX(sequence), 0) FROM job_events WHERE job_id = ?1");
  if (!last.ok()) return last.status();
  last->Bind(1, job_id);
  absl::StatusOr<bool> row = last->Step();
  if (!row.ok()) return row.status();
  return last->ColumnInt(0);
}

}  // namespace trustformers::jobs
