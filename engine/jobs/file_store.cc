#include "engine/jobs/file_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/jobs/random_id.h"
#include "engine/training/line_error.h"
#include "models/nn/durable_file.h"
#include "nlohmann/json.hpp"
#include "tokenizers/utf8.h"

namespace trustformers::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr absl::string_view kByteOrderMark = "\xEF\xBB\xBF";
constexpr char kUploadSuffix[] = ".part";
constexpr size_t kMaxFilenameBytes = 255;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Errno(int error) { return std::strerror(error); }

// A failed write or sync: a full disk is the server's storage being full (RESOURCE_EXHAUSTED,
// retry later, as the contract says); anything else is the server's fault.
absl::Status IoError(int error, absl::string_view what) {
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server's file storage is full (", what, ": ", Errno(error), ")"));
  }
  return absl::InternalError(absl::StrCat(what, ": ", Errno(error)));
}

const char* ExtensionFor(FilePurpose purpose) {
  return purpose == FilePurpose::kFineTuneResults ? ".csv" : ".jsonl";
}

std::string Hex(const unsigned char* bytes, unsigned int length) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length)));
}

int64_t CountNonBlankLines(absl::string_view text) {
  int64_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == absl::string_view::npos) end = text.size();
    if (!absl::StripAsciiWhitespace(text.substr(pos, end - pos)).empty()) ++count;
    pos = end + 1;
  }
  return count;
}

// nlohmann's message after its "[json.exception...] parse error at line 1, column 7: " prefix
// (that line and column are the one-line parse's; we give our own).
std::string ParseErrorReason(absl::string_view what) {
  const size_t column = what.find("column ");
  if (column != absl::string_view::npos) {
    const size_t colon = what.find(": ", column);
    if (colon != absl::string_view::npos) return std::string(what.substr(colon + 2));
  }
  return std::string(what);
}

// What a valid JSON text that is not an object is, from its first character.
const char* DescribeNonObject(absl::string_view text) {
  switch (text.empty() ? '\0' : text.front()) {
    case '[':
      return "an array";
    case '"':
      return "a string";
    case 't':
    case 'f':
      return "a boolean";
    case 'n':
      return "null";
    default:
      return "a number";
  }
}

// Checks a stream of bytes, split anywhere, as JSON Lines: each line well-formed UTF-8 and, when
// not blank, one JSON object (a UTF-8 byte order mark may open the file, as the training data
// reader allows). Keeps the first error and the count of records.
class JsonLinesChecker {
 public:
  explicit JsonLinesChecker(std::string filename) : filename_(std::move(filename)) {}

  void Feed(absl::string_view bytes) {
    size_t pos = 0;
    while (error_.ok() && pos < bytes.size()) {
      const size_t end = bytes.find('\n', pos);
      if (end == absl::string_view::npos) {
        pending_.append(bytes.data() + pos, bytes.size() - pos);
        return;
      }
      if (pending_.empty()) {
        CheckLine(bytes.substr(pos, end - pos));
      } else {
        pending_.append(bytes.data() + pos, end - pos);
        CheckLine(pending_);
        pending_.clear();
      }
      pos = end + 1;
    }
    if (!error_.ok()) pending_ = std::string();  // the verdict is in: free the buffer
  }

  // The verdict once every byte was fed.
  absl::Status Finish() {
    if (error_.ok() && !pending_.empty()) CheckLine(pending_);  // a last line without '\n'
    pending_ = std::string();
    if (!error_.ok()) return error_;
    if (records_ == 0) {
      return training::LineError(filename_, 0,
                                 "the file has no records: it is empty or has only blank lines");
    }
    return absl::OkStatus();
  }

  int64_t records() const { return records_; }

 private:
  void CheckLine(absl::string_view text) {
    ++line_;
    if (line_ == 1) absl::ConsumePrefix(&text, kByteOrderMark);
    // Lines are as long as the file may be: the size limit already bounds them.
    error_ = training::CheckLine(text, filename_, line_, std::numeric_limits<size_t>::max());
    if (!error_.ok()) return;
    const absl::string_view stripped = absl::StripAsciiWhitespace(text);
    if (stripped.empty()) return;
    // accept() validates without building the value; parsing again is only for the message.
    if (!json::accept(text.begin(), text.end())) {
      try {
        const json ignored = json::parse(text.begin(), text.end());
        error_ = training::LineError(filename_, line_, "invalid JSON");
      } catch (const json::parse_error& e) {
        // e.byte is the 1-based byte where parsing stopped.
        error_ = training::LineError(
            filename_, line_,
            absl::StrCat("invalid JSON at column ", e.byte, ": ", ParseErrorReason(e.what())));
      } catch (const json::exception& e) {
        error_ = training::LineError(filename_, line_, absl::StrCat("invalid JSON: ", e.what()));
      }
      return;
    }
    // nlohmann skips a byte order mark that starts its input, so the training data reader takes
    // one at the start of any line: so do we.
    absl::string_view value = text;
    absl::ConsumePrefix(&value, kByteOrderMark);
    value = absl::StripLeadingAsciiWhitespace(value);
    if (value.front() != '{') {
      error_ = training::LineError(filename_, line_,
                                   absl::StrCat("expected one JSON object per line (JSON Lines), "
                                                "not ",
                                                DescribeNonObject(value)));
      return;
    }
    ++records_;
  }

  const std::string filename_;
  std::string pending_;  // the bytes of a line whose end has not arrived yet
  int64_t line_ = 0;
  int64_t records_ = 0;
  absl::Status error_;
};

struct HashContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

}  // namespace

class FileUpload : public Upload {
 public:
  FileUpload(FileStore* store, StoredFile file, std::optional<int64_t> declared_size,
             std::string declared_sha256, std::string temp_path, int fd,
             std::unique_ptr<EVP_MD_CTX, HashContextDeleter> hash)
      : store_(store),
        file_(std::move(file)),
        declared_size_(declared_size),
        declared_sha256_(std::move(declared_sha256)),
        temp_path_(std::move(temp_path)),
        fd_(fd),
        hash_(std::move(hash)),
        checker_(file_.filename) {}

  ~FileUpload() override { Discard(); }

  absl::Status Append(absl::string_view chunk) override {
    if (absl::Status status = Usable(); !status.ok()) return status;
    const int64_t size = static_cast<int64_t>(chunk.size());
    const int64_t limit = store_->limits().max_file_bytes;
    if (size > limit - bytes_) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("the file is larger than the server's limit of ", limit, " bytes")));
    }
    if (declared_size_.has_value() && size > *declared_size_ - bytes_) {
      return Fail(absl::DataLossError(absl::StrCat("received more bytes than the declared size of ",
                                                   *declared_size_, " bytes")));
    }
    size_t written = 0;
    while (written < chunk.size()) {
      const ssize_t n = ::write(fd_, chunk.data() + written, chunk.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail(IoError(n < 0 ? errno : EIO, "cannot write the upload"));
      written += static_cast<size_t>(n);
    }
    if (EVP_DigestUpdate(hash_.get(), chunk.data(), chunk.size()) != 1) {
      return Fail(absl::InternalError("SHA-256 failed"));
    }
    bytes_ += size;
    checker_.Feed(chunk);
    return absl::OkStatus();
  }

  absl::StatusOr<StoredFile> Commit() override {
    if (absl::Status status = Usable(); !status.ok()) return status;
    // The contract's order: size and checksum first (the bytes are not what the client meant),
    // then the format.
    if (declared_size_.has_value() && bytes_ != *declared_size_) {
      return Fail(absl::DataLossError(absl::StrCat(
          "received ", bytes_, " bytes, not the declared size of ", *declared_size_, " bytes")));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(hash_.get(), digest, &length) != 1) {
      return Fail(absl::InternalError("SHA-256 failed"));
    }
    file_.sha256 = Hex(digest, length);
    if (!declared_sha256_.empty() && declared_sha256_ != file_.sha256) {
      return Fail(absl::DataLossError(absl::StrCat("the received bytes have SHA-256 ", file_.sha256,
                                                   ", not the declared ", declared_sha256_)));
    }
    if (absl::Status status = checker_.Finish(); !status.ok()) return Fail(status);
    file_.bytes = bytes_;
    file_.line_count = checker_.records();

    if (::fsync(fd_) != 0) return Fail(IoError(errno, "cannot sync the upload"));
    ::close(std::exchange(fd_, -1));
    absl::StatusOr<std::string> id = RandomId("file-");
    if (!id.ok()) return Fail(id.status());
    file_.id = *std::move(id);
    file_.created_at_ms = NowMs();
    const std::string path = store_->PathOf(file_);
    if (::rename(temp_path_.c_str(), path.c_str()) != 0) {
      return Fail(IoError(errno, absl::StrCat("cannot move the upload to ", path)));
    }
    temp_path_.clear();  // nothing left to discard
    // The name must be durable before the row that points at it.
    absl::Status status = nn::SyncDirectory(store_->FilesDir());
    if (status.ok()) status = store_->store_->InsertFile(file_);
    if (!status.ok()) {
      ::unlink(path.c_str());
      return Fail(status);
    }
    committed_ = true;
    return file_;
  }

  int64_t bytes_received() const override { return bytes_; }

 private:
  absl::Status Usable() const {
    if (!failed_.ok()) return failed_;
    if (committed_) return absl::FailedPreconditionError("the upload was committed already");
    return absl::OkStatus();
  }

  // Ends the upload with `status`: nothing of it is kept.
  absl::Status Fail(absl::Status status) {
    failed_ = status;
    Discard();
    return status;
  }

  void Discard() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  FileStore* const store_;
  StoredFile file_;  // filename and purpose from the start, the rest at Commit
  const std::optional<int64_t> declared_size_;
  const std::string declared_sha256_;  // lowercase; empty: not checked
  std::string temp_path_;              // empty once moved or discarded
  int fd_;
  std::unique_ptr<EVP_MD_CTX, HashContextDeleter> hash_;
  JsonLinesChecker checker_;
  int64_t bytes_ = 0;
  absl::Status failed_;
  bool committed_ = false;
};

FileStore::FileStore(std::string data_dir, JobStore* store, FileStoreLimits limits, int lock_fd)
    : data_dir_(std::move(data_dir)), store_(store), limits_(limits), lock_fd_(lock_fd) {}

FileStore::~FileStore() { ::close(lock_fd_); }  // releases the folder's lock

std::string FileStore::FilesDir() const { return (fs::path(data_dir_) / "files").string(); }

std::string FileStore::UploadsDir() const { return (fs::path(data_dir_) / "uploads").string(); }

std::string FileStore::PathOf(const StoredFile& file) const {
  return (fs::path(FilesDir()) / (file.id + ExtensionFor(file.purpose))).string();
}

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Open(const std::string& data_dir,
                                                           JobStore* store,
                                                           const FileStoreLimits& limits) {
  if (limits.max_file_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_file_bytes is ", limits.max_file_bytes, "; it must be positive"));
  }
  for (const char* sub : {"files", "uploads"}) {
    std::error_code error;
    fs::create_directories(fs::path(data_dir) / sub, error);
    if (error) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create ", (fs::path(data_dir) / sub).string(), ": ", error.message()));
    }
  }
  const std::string lock_path = (fs::path(data_dir) / "LOCK").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", lock_path, ": ", Errno(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(lock_fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("the data folder ", data_dir, " is in use by another file store"));
    }
    return absl::InternalError(absl::StrCat("cannot lock ", lock_path, ": ", Errno(error)));
  }
  std::unique_ptr<FileStore> files(new FileStore(data_dir, store, limits, lock_fd));
  if (absl::Status status = files->CleanUp(); !status.ok()) return status;
  return files;
}

absl::Status FileStore::CleanUp() {
  std::error_code error;
  bool removed_upload = false;
  for (const fs::directory_entry& entry : fs::directory_iterator(UploadsDir(), error)) {
    // Everything here is a temporary file of an upload that never committed.
    if (entry.is_regular_file(error) && fs::remove(entry.path(), error)) removed_upload = true;
  }
  if (error) {
    return absl::InternalError(absl::StrCat("cannot clean ", UploadsDir(), ": ", error.message()));
  }

  absl::StatusOr<std::vector<StoredFile>> rows = store_->ListFiles();
  if (!rows.ok()) return rows.status();
  std::set<std::string> known;
  for (const StoredFile& file : *rows) known.insert(fs::path(PathOf(file)).filename().string());
  bool removed_file = false;
  for (const fs::directory_entry& entry : fs::directory_iterator(FilesDir(), error)) {
    // Only names this class writes: a file renamed in whose row never came (a crash inside
    // Commit), or the temporary of an interrupted AddResultFile.
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, "file-") || known.count(name) != 0) continue;
    if (entry.is_regular_file(error) && fs::remove(entry.path(), error)) removed_file = true;
  }
  if (error) {
    return absl::InternalError(absl::StrCat("cannot clean ", FilesDir(), ": ", error.message()));
  }
  if (removed_upload) {
    if (absl::Status status = nn::SyncDirectory(UploadsDir()); !status.ok()) return status;
  }
  if (removed_file) return nn::SyncDirectory(FilesDir());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Upload>> FileStore::StartUpload(const std::string& filename,
                                                               FilePurpose purpose,
                                                               std::optional<int64_t> declared_size,
                                                               const std::string& declared_sha256) {
  if (filename.empty() || filename.size() > kMaxFilenameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("filename must be 1 to ", kMaxFilenameBytes, " bytes, not ", filename.size()));
  }
  if (filename.find('/') != std::string::npos || filename.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("filename must not contain '/' or NUL");
  }
  if (absl::Status utf8 = tokenizers::ValidateUtf8(filename); !utf8.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("filename: ", utf8.message()));
  }
  if (purpose != FilePurpose::kFineTune && purpose != FilePurpose::kFineTuneValidation) {
    return absl::InvalidArgumentError(
        "purpose must be fine-tune or fine-tune-validation; other files are the server's");
  }
  if (declared_size.has_value() &&
      (*declared_size < 1 || *declared_size > limits_.max_file_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("the declared size of ", *declared_size,
                                                   " bytes is outside 1 to the limit of ",
                                                   limits_.max_file_bytes, " bytes"));
  }
  std::string sha256 = absl::AsciiStrToLower(declared_sha256);
  if (!sha256.empty() &&
      (sha256.size() != 64 || sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return absl::InvalidArgumentError("sha256 must be 64 hex digits (or empty: not checked)");
  }

  std::unique_ptr<EVP_MD_CTX, HashContextDeleter> hash(EVP_MD_CTX_new());
  if (hash == nullptr || EVP_DigestInit_ex(hash.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot start SHA-256");
  }
  absl::StatusOr<std::string> name = RandomId("upload-", 16);
  if (!name.ok()) return name.status();
  const std::string temp_path = (fs::path(UploadsDir()) / (*name + kUploadSuffix)).string();
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(errno, absl::StrCat("cannot create ", temp_path));

  StoredFile file;
  file.filename = filename;
  file.purpose = purpose;
  return std::unique_ptr<Upload>(new FileUpload(this, std::move(file), declared_size,
                                                std::move(sha256), temp_path, fd, std::move(hash)));
}

absl::StatusOr<StoredFile> FileStore::AddResultFile(const std::string& filename,
                                                    absl::string_view contents) {
  StoredFile file;
  file.filename = filename;
  file.purpose = FilePurpose::kFineTuneResults;
  file.bytes = static_cast<int64_t>(contents.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(contents.data(), contents.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 failed");
  }
  file.sha256 = Hex(digest, length);
  file.line_count = CountNonBlankLines(contents);
  absl::StatusOr<std::string> id = RandomId("file-");
  if (!id.ok()) return id.status();
  file.id = *std::move(id);
  file.created_at_ms = NowMs();
  const std::string path = PathOf(file);
  if (absl::Status status = nn::WriteFileAtomically(path, std::string(contents)); !status.ok()) {
    return status;
  }
  if (absl::Status status = store_->InsertFile(file); !status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return file;
}

absl::StatusOr<std::string> FileStore::Path(const std::string& id) {
  absl::StatusOr<StoredFile> file = store_->GetFile(id);
  if (!file.ok()) return file.status();
  return PathOf(*file);
}

absl::Status FileStore::Delete(const std::string& id) {
  absl::StatusOr<StoredFile> file = store_->GetFile(id);
  if (!file.ok()) return file.status();
  // Row first: a crash before the unlink leaves a file without a row, which Open removes; the
  // other order could leave a row naming missing bytes.
  if (absl::Status status = store_->DeleteFile(id); !status.ok()) return status;
  const std::string path = PathOf(*file);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return IoError(errno, absl::StrCat("cannot delete ", path));
  }
  return nn::SyncDirectory(FilesDir());
}

}  // namespace trustformers::jobs
