// Uploaded files of the fine-tuning jobs service: the bytes in `<data_dir>/files/<id>.jsonl`,
// their rows in the JobStore.
//
// An upload streams into a temporary file in `<data_dir>/uploads/`, hashed (SHA-256) and
// checked line by line as the chunks arrive, and refused the moment it passes the size limit.
// Commit then checks the declared size and checksum (DATA_LOSS on a mismatch) and that the bytes
// are UTF-8 JSON Lines (INVALID_ARGUMENT naming the first bad line, as UploadFileRequest in
// proto/trustformers/v1/fine_tuning.proto says), syncs the file, renames it into files/, syncs
// the folder and only then inserts the row: a file the store lists is whole on disk. Nothing of
// a failed or abandoned upload is kept. A crash between the rename and the row leaves a file
// without a row, which Open removes, as it removes the temporary files of interrupted uploads.
//
// One FileStore owns its data folder: Open locks it (flock on `<data_dir>/LOCK`) so a second
// server on the same folder cannot delete the other's uploads in progress.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/jobs/job_store.h"
#include "engine/jobs/job_types.h"

namespace trustformers::jobs {

struct FileStoreLimits {
  int64_t max_file_bytes = int64_t{512} << 20;  // per file, what the config's limit says
};

// One file being uploaded. Not thread-safe (one stream feeds it); the FileStore must outlive
// it. Destroyed without a successful Commit, it deletes its temporary file. After any error
// the upload is dead: later calls return that error again.
class Upload {
 public:
  virtual ~Upload() = default;

  // Appends the next bytes. INVALID_ARGUMENT once the total passes the size limit, DATA_LOSS
  // once it passes the declared size, RESOURCE_EXHAUSTED when the disk is full.
  virtual absl::Status Append(absl::string_view chunk) = 0;

  // Checks and stores the file (see above) and returns its row. DATA_LOSS for a size or
  // checksum mismatch; INVALID_ARGUMENT for a bad line (the status carries the line, as
  // training::ErrorLine reads it) or a file without a single record.
  virtual absl::StatusOr<StoredFile> Commit() = 0;

  virtual int64_t bytes_received() const = 0;
};

class FileStore {
 public:
  // Creates `data_dir`/files and /uploads as needed, takes the folder's lock (FAILED_PRECONDITION
  // when another FileStore holds it) and removes leftovers of interrupted uploads. `store`
  // holds the rows and must outlive the FileStore.
  static absl::StatusOr<std::unique_ptr<FileStore>> Open(const std::string& data_dir,
                                                         JobStore* store,
                                                         const FileStoreLimits& limits);
  ~FileStore();
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  // Starts an upload. INVALID_ARGUMENT, before any byte is sent, for a filename that is not 1
  // to 255 bytes of UTF-8 without '/' or NUL, a purpose other than kFineTune and
  // kFineTuneValidation, a declared size outside 1 to the limit, or a declared sha256 that is
  // not 64 hex digits (either case; empty: not checked).
  absl::StatusOr<std::unique_ptr<Upload>> StartUpload(const std::string& filename,
                                                      FilePurpose purpose,
                                                      std::optional<int64_t> declared_size,
                                                      const std::string& declared_sha256);

  // Stores a file the server wrote itself (a job's metrics CSV: purpose kFineTuneResults) under
  // `<id>.csv`, atomically, without the JSON Lines check.
  absl::StatusOr<StoredFile> AddResultFile(const std::string& filename, absl::string_view contents);

  // Where file `id`'s bytes are. NOT_FOUND for an id the store does not know.
  absl::StatusOr<std::string> Path(const std::string& id);

  // Deletes the row, then the bytes. NOT_FOUND for an unknown id.
  absl::Status Delete(const std::string& id);

  const FileStoreLimits& limits() const { return limits_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  friend class FileUpload;

  FileStore(std::string data_dir, JobStore* store, FileStoreLimits limits, int lock_fd);
  std::string FilesDir() const;
  std::string UploadsDir() const;
  std::string PathOf(const StoredFile& file) const;
  // Removes the temporary files of interrupted uploads and files that have no row.
  absl::Status CleanUp();

  const std::string data_dir_;
  JobStore* const store_;
  const FileStoreLimits limits_;
  const int lock_fd_;
};

}  // namespace trustformers::jobs
