// A thin layer over SQLite's C API for the job store: a connection that closes itself, prepared
// statements that finalize themselves, transactions that roll back unless committed, and
// SQLite's result codes turned into absl::Status once, here. Only the job store's .cc files
// include it; nothing above engine/jobs sees SQLite.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::jobs::sqlite {

class Database {
 public:
  // Opens (creating when missing) the database file. No statement has run yet, so a file that
  // is not a database only shows at the first one.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        int busy_timeout_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs statements that return no rows (several, separated by ';').
  absl::Status Exec(absl::string_view sql);

  // `code` (an extended result code) as a Status: "job store <path>: <what>: <SQLite's words>".
  // BUSY/LOCKED -> UNAVAILABLE, FULL -> RESOURCE_EXHAUSTED, CORRUPT/NOTADB -> DATA_LOSS,
  // unique and primary key constraints -> ALREADY_EXISTS, READONLY/PERM/CANTOPEN ->
  // PERMISSION_DENIED, other constraints -> FAILED_PRECONDITION, the rest INTERNAL.
  absl::Status Error(int code, absl::string_view what) const;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
};

// One prepared statement. Bind* take 1-based parameter indexes; a failed bind is reported by
// the next Step.
class Statement {
 public:
  static absl::StatusOr<Statement> Prepare(const Database& db, absl::string_view sql);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);

  // true: a row is ready for the Column* accessors; false: the statement is done.
  absl::StatusOr<bool> Step();
  // Steps to the end; for statements that return no rows.
  absl::Status Run();

  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;  // "" for NULL
  std::string ColumnBlob(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  Statement(const Database* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}

  const Database* db_;
  sqlite3_stmt* statement_;
  int bind_error_ = SQLITE_OK;
};

// BEGIN (IMMEDIATE for writes, so the write lock is taken up front and a busy database shows at
// once rather than at the first write) ... COMMIT; destroyed uncommitted, it rolls back.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static absl::StatusOr<Transaction> Begin(Database& db, Kind kind);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  // With synchronous=FULL the commit is on disk when this returns OK.
  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}

  Database* db_;  // null once committed or moved from
};

}  // namespace trustformers::jobs::sqlite
