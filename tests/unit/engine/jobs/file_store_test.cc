// Uploaded files: chunks stored whole with their SHA-256 and record count, the size limit
// enforced as the bytes arrive, declared size and checksum mismatches, JSON Lines errors naming
// the right line, empty files, metadata checks, and nothing left behind by failed, abandoned or
// interrupted uploads (at restart too).
#include "engine/jobs/file_store.h"

#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "catch2/catch.hpp"
#include "engine/training/line_error.h"
#include "unit/temp_dir.h"

namespace trustformers::jobs {
namespace {

namespace fs = std::filesystem;

std::string Sha256(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) == 1);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

size_t Entries(const fs::path& folder) {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator(folder), fs::directory_iterator{}));
}

// A job store and a file store over one temporary data folder.
struct Fixture {
  explicit Fixture(int64_t max_file_bytes = 1 << 20) {
    absl::StatusOr<std::unique_ptr<JobStore>> opened =
        JobStore::Open((dir.path() / "jobs.db").string());
    REQUIRE(opened.ok());
    store = *std::move(opened);
    limits.max_file_bytes = max_file_bytes;
    OpenFiles();
  }

  void OpenFiles() {
    absl::StatusOr<std::unique_ptr<FileStore>> opened =
        FileStore::Open((dir.path() / "data").string(), store.get(), limits);
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    files = *std::move(opened);
  }

  fs::path Uploads() const { return dir.path() / "data" / "uploads"; }
  fs::path Files() const { return dir.path() / "data" / "files"; }

  std::unique_ptr<Upload> Start(const std::string& filename = "train.jsonl",
                                std::optional<int64_t> size = std::nullopt,
                                const std::string& sha256 = "") {
    absl::StatusOr<std::unique_ptr<Upload>> upload =
        files->StartUpload(filename, FilePurpose::kFineTune, size, sha256);
    INFO(upload.status().ToString());
    REQUIRE(upload.ok());
    return *std::move(upload);
  }

  // Uploads `contents` in one chunk and commits it.
  absl::StatusOr<StoredFile> Put(const std::string& contents,
                                 const std::string& filename = "train.jsonl") {
    std::unique_ptr<Upload> upload = Start(filename);
    if (absl::Status status = upload->Append(contents); !status.ok()) return status;
    return upload->Commit();
  }

  // Nothing stored and nothing left over: what every failed upload must leave.
  void CheckNothingKept() {
    CHECK(Entries(Uploads()) == 0);
    CHECK(Entries(Files()) == 0);
    CHECK(store->ListFiles()->empty());
  }

  testing::TempDir dir;
  std::unique_ptr<JobStore> store;
  FileStoreLimits limits;
  std::unique_ptr<FileStore> files;
};

TEST_CASE("file store: an upload in chunks is stored whole, hashed and counted", "[jobs]") {
  Fixture f;
  // A byte order mark, CRLF line ends, blank lines, a two-byte character split between chunks
  // and a last line without a line break.
  const std::string contents =
      "\xEF\xBB\xBF{\"text\": \"caf\xC3\xA9\", \"label\": 1}\r\n"
      "\n"
      "   \t\n"
      "{\"text\": \"plain\", \"label\": \"neg\"}\n"
      "  {\"nested\": {\"a\": [1, 2, {\"b\": null}]}}  ";
  const std::string sha = Sha256(contents);
  std::unique_ptr<Upload> upload =
      f.Start("données.jsonl", static_cast<int64_t>(contents.size()), absl::AsciiStrToUpper(sha));
  CHECK(Entries(f.Uploads()) == 1);  // streaming to a temporary file
  const size_t cut = contents.find('\xC3') + 1;
  REQUIRE(upload->Append(contents.substr(0, 5)).ok());
  REQUIRE(upload->Append(contents.substr(5, cut - 5)).ok());
  REQUIRE(upload->Append("").ok());
  REQUIRE(upload->Append(contents.substr(cut, 40)).ok());
  REQUIRE(upload->Append(contents.substr(cut + 40)).ok());
  CHECK(upload->bytes_received() == static_cast<int64_t>(contents.size()));
  absl::StatusOr<StoredFile> file = upload->Commit();
  INFO(file.status().ToString());
  REQUIRE(file.ok());

  CHECK(std::regex_match(file->id, std::regex("file-[0-9a-f]{24}")));
  CHECK(file->filename == "données.jsonl");
  CHECK(file->purpose == FilePurpose::kFineTune);
  CHECK(file->bytes == static_cast<int64_t>(contents.size()));
  CHECK(file->sha256 == sha);
  CHECK(file->line_count == 3);
  CHECK(file->created_at_ms > 0);

  absl::StatusOr<std::string> path = f.files->Path(file->id);
  REQUIRE(path.ok());
  CHECK(*path == (f.Files() / (file->id + ".jsonl")).string());
  CHECK(ReadAll(*path) == contents);
  CHECK(Entries(f.Uploads()) == 0);
  absl::StatusOr<StoredFile> row = f.store->GetFile(file->id);
  REQUIRE(row.ok());
  CHECK(row->sha256 == sha);
  CHECK(row->line_count == 3);
  CHECK(row->bytes == file->bytes);

  // A committed upload takes nothing more; ids differ between uploads.
  CHECK(upload->Append("{}").code() == absl::StatusCode::kFailedPrecondition);
  CHECK(upload->Commit().status().code() == absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<StoredFile> second = f.Put("{}\n");
  REQUIRE(second.ok());
  CHECK(second->id != file->id);
  CHECK(second->line_count == 1);
}

TEST_CASE("file store: the size limit is enforced as the bytes arrive", "[jobs]") {
  Fixture f(/*max_file_bytes=*/100);
  const std::string line = "{\"text\": \"012345678901234567890123456789012345678\"}\n";  // 52
  REQUIRE(line.size() == 52);
  {
    std::unique_ptr<Upload> upload = f.Start();
    REQUIRE(upload->Append(line).ok());
    absl::Status over = upload->Append(line);
    CHECK(over.code() == absl::StatusCode::kInvalidArgument);
    CHECK(over.message().find("100 bytes") != std::string::npos);
    CHECK(Entries(f.Uploads()) == 0);  // deleted at once, not at the end
    CHECK(upload->bytes_received() == 52);
    // Dead from now on.
    CHECK(upload->Append("{}").code() == absl::StatusCode::kInvalidArgument);
    CHECK(upload->Commit().status().code() == absl::StatusCode::kInvalidArgument);
  }
  f.CheckNothingKept();

  // Exactly at the limit is fine.
  const std::string exact = line + std::string(47, ' ') + "\n";
  REQUIRE(exact.size() == 100);
  absl::StatusOr<StoredFile> file = f.Put(exact);
  REQUIRE(file.ok());
  CHECK(file->bytes == 100);

  // A declared size over the limit is refused before any byte.
  CHECK(f.files->StartUpload("a.jsonl", FilePurpose::kFineTune, 101, "").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("file store: bytes that differ from the declared size or checksum are DATA_LOSS",
          "[jobs]") {
  Fixture f;
  const std::string contents = "{\"a\": 1}\n{\"a\": 2}\n";
  const int64_t size = static_cast<int64_t>(contents.size());
  {
    std::unique_ptr<Upload> upload = f.Start("a.jsonl", size + 1);
    REQUIRE(upload->Append(contents).ok());
    absl::StatusOr<StoredFile> short_file = upload->Commit();
    CHECK(short_file.status().code() == absl::StatusCode::kDataLoss);
  }
  {
    std::unique_ptr<Upload> upload = f.Start("a.jsonl", size - 1);
    CHECK(upload->Append(contents).code() == absl::StatusCode::kDataLoss);  // at once
  }
  {
    std::string sha = Sha256(contents);
    sha[0] = sha[0] == '0' ? '1' : '0';
    std::unique_ptr<Upload> upload = f.Start("a.jsonl", size, sha);
    REQUIRE(upload->Append(contents).ok());
    absl::StatusOr<StoredFile> wrong = upload->Commit();
    CHECK(wrong.status().code() == absl::StatusCode::kDataLoss);
    CHECK(wrong.status().message().find(Sha256(contents)) != std::string::npos);
  }
  {
    // A mismatch wins over a bad line: the bytes are not what the client meant to send.
    std::unique_ptr<Upload> upload = f.Start("a.jsonl", std::nullopt, Sha256("other"));
    REQUIRE(upload->Append("not json\n").ok());
    CHECK(upload->Commit().status().code() == absl::StatusCode::kDataLoss);
  }
  f.CheckNothingKept();
}

TEST_CASE("file store: a file that is not JSON Lines is refused naming its first bad line",
          "[jobs]") {
  Fixture f;
  struct Case {
    std::string contents;
    int64_t line;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"{\"a\": 1}\n\n{\"a\": 2}\n{\"a\": \n{\"a\": 3}\n", 4, "invalid JSON at column"},
      {"{\"a\": 1}\n[1, 2]\n", 2, "not an array"},
      {"{\"a\": 1}\r\n\"text\"\r\n", 2, "not a string"},
      {"42\n", 1, "not a number"},
      {"null", 1, "not null"},
      {"{\"a\": 1}\n{\"a\": 1} {\"b\": 2}\n", 2, "invalid JSON"},
      {"{\"a\": 1}\n{\"text\": \"caf\xC3\"}\n", 2, "not valid UTF-8"},
      {"{\"a\": \"\xFF\"}\n{oops}\n", 1, "not valid UTF-8"},
      {"{\"a\": 1}\n{\"a\": 1}\n{\"last\": tru", 3, "invalid JSON"},
      {"{\"a\": 1}\n\xEF\xBB\xBF[1]\n", 2, "not an array"},
  };
  for (const Case& c : cases) {
    INFO(absl::CEscape(c.contents));
    std::unique_ptr<Upload> upload = f.Start("bad.jsonl");
    // Fed a byte at a time: lines are checked across chunk boundaries.
    absl::Status status;
    for (char byte : c.contents) {
      status = upload->Append(absl::string_view(&byte, 1));
      if (!status.ok()) break;
    }
    REQUIRE(status.ok());
    absl::StatusOr<StoredFile> file = upload->Commit();
    CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(training::ErrorLine(file.status()) == c.line);
    CHECK(file.status().message().find("bad.jsonl:" + std::to_string(c.line) + ": ") == 0);
    CHECK(file.status().message().find(c.words) != std::string::npos);
    INFO(file.status().message());
  }
  f.CheckNothingKept();
}

TEST_CASE("file store: a file without records is refused", "[jobs]") {
  Fixture f;
  for (const std::string& contents :
       {std::string(""), std::string("\n\n  \r\n\t"), std::string("\xEF\xBB\xBF\n")}) {
    INFO(absl::CEscape(contents));
    absl::StatusOr<StoredFile> file = f.Put(contents, "empty.jsonl");
    CHECK(file.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(training::ErrorLine(file.status()) == 0);
    CHECK(file.status().message().find("no records") != std::string::npos);
  }
  CHECK(f.files->StartUpload("a.jsonl", FilePurpose::kFineTune, 0, "").status().code() ==
        absl::StatusCode::kInvalidArgument);
  f.CheckNothingKept();
}

TEST_CASE("file store: names, purposes, sizes and checksums are checked up front", "[jobs]") {
  Fixture f;
  const auto code = [&f](const std::string& filename, FilePurpose purpose,
                         std::optional<int64_t> size, const std::string& sha) {
    return f.files->StartUpload(filename, purpose, size, sha).status().code();
  };
  const FilePurpose train = FilePurpose::kFineTune;
  const absl::StatusCode bad = absl::StatusCode::kInvalidArgument;
  CHECK(code("", train, std::nullopt, "") == bad);
  CHECK(code(std::string(256, 'a'), train, std::nullopt, "") == bad);
  CHECK(code("dir/train.jsonl", train, std::nullopt, "") == bad);
  CHECK(code(std::string("a\0b", 3), train, std::nullopt, "") == bad);
  CHECK(code("caf\xC3.jsonl", train, std::nullopt, "") == bad);
  CHECK(code("a.jsonl", FilePurpose::kFineTuneResults, std::nullopt, "") == bad);
  CHECK(code("a.jsonl", train, -5, "") == bad);
  CHECK(code("a.jsonl", train, std::nullopt, "abc") == bad);
  CHECK(code("a.jsonl", train, std::nullopt, std::string(63, 'a')) == bad);
  CHECK(code("a.jsonl", train, std::nullopt, std::string(64, 'g')) == bad);
  CHECK(Entries(f.Uploads()) == 0);

  CHECK(code(std::string(255, 'a'), train, std::nullopt, "") == absl::StatusCode::kOk);
  CHECK(code("..", FilePurpose::kFineTuneValidation, 1, std::string(64, 'A')) ==
        absl::StatusCode::kOk);
  CHECK(Entries(f.Uploads()) == 0);  // both uploads were dropped unused

  std::unique_ptr<Upload> validation =
      *f.files->StartUpload("held out.jsonl", FilePurpose::kFineTuneValidation, std::nullopt, "");
  REQUIRE(validation->Append("{}").ok());
  absl::StatusOr<StoredFile> file = validation->Commit();
  REQUIRE(file.ok());
  CHECK(f.store->GetFile(file->id)->purpose == FilePurpose::kFineTuneValidation);
}

TEST_CASE("file store: abandoned uploads leave nothing, and a restart sweeps leftovers", "[jobs]") {
  Fixture f;
  {
    std::unique_ptr<Upload> upload = f.Start();
    REQUIRE(upload->Append("{\"a\": 1}\n").ok());
    CHECK(Entries(f.Uploads()) == 1);
  }  // the client went away
  f.CheckNothingKept();

  absl::StatusOr<StoredFile> kept = f.Put("{\"keep\": true}\n");
  REQUIRE(kept.ok());
  absl::StatusOr<StoredFile> results = f.files->AddResultFile("metrics.csv", "step,loss\n1,0.5\n");
  REQUIRE(results.ok());
  // What a crash leaves: an upload in progress, a file renamed in whose row never came, the
  // temporary of a result file. Files that are not ours stay.
  f.dir.Write("data/uploads/upload-0123456789abcdef.part", "{\"a\"");
  f.dir.Write("data/files/file-0123456789abcdef01234567.jsonl", "{}\n");
  f.dir.Write("data/files/file-0123456789abcdef01234568.csv.tmp", "x");
  f.dir.Write("data/files/README", "not ours");
  f.files.reset();

  f.OpenFiles();
  CHECK(Entries(f.Uploads()) == 0);
  std::vector<std::string> left;
  for (const fs::directory_entry& entry : fs::directory_iterator(f.Files())) {
    left.push_back(entry.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  std::vector<std::string> expected = {"README", kept->id + ".jsonl", results->id + ".csv"};
  std::sort(expected.begin(), expected.end());
  CHECK(left == expected);
  CHECK(ReadAll(*f.files->Path(kept->id)) == "{\"keep\": true}\n");
}

TEST_CASE("file store: a server killed mid-upload keeps its stored files and sweeps the rest",
          "[jobs]") {
  testing::TempDir dir;
  const std::string db = (dir.path() / "jobs.db").string();
  const std::string data = (dir.path() / "data").string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(db);
    if (!store.ok()) _exit(1);
    absl::StatusOr<std::unique_ptr<FileStore>> files =
        FileStore::Open(data, store->get(), FileStoreLimits{});
    if (!files.ok()) _exit(2);
    absl::StatusOr<std::unique_ptr<Upload>> done =
        (*files)->StartUpload("done.jsonl", FilePurpose::kFineTune, std::nullopt, "");
    if (!done.ok() || !(*done)->Append("{\"done\": 1}\n").ok() || !(*done)->Commit().ok()) {
      _exit(3);
    }
    absl::StatusOr<std::unique_ptr<Upload>> half =
        (*files)->StartUpload("half.jsonl", FilePurpose::kFineTune, std::nullopt, "");
    if (!half.ok() || !(*half)->Append("{\"half\": ").ok()) _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("child exit status " << status);
  REQUIRE(WIFSIGNALED(status));
  CHECK(Entries(fs::path(data) / "uploads") == 1);  // the half upload's temporary file

  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(db);
  REQUIRE(store.ok());
  // The dead process's lock went with it.
  absl::StatusOr<std::unique_ptr<FileStore>> files =
      FileStore::Open(data, store->get(), FileStoreLimits{});
  INFO(files.status().ToString());
  REQUIRE(files.ok());
  CHECK(Entries(fs::path(data) / "uploads") == 0);
  absl::StatusOr<std::vector<StoredFile>> rows = (*store)->ListFiles();
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().filename == "done.jsonl");
  CHECK(ReadAll(*(*files)->Path(rows->front().id)) == "{\"done\": 1}\n");
}

TEST_CASE("file store: one store per data folder", "[jobs]") {
  Fixture f;
  absl::StatusOr<std::unique_ptr<FileStore>> second =
      FileStore::Open((f.dir.path() / "data").string(), f.store.get(), f.limits);
  CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  f.files.reset();
  second = FileStore::Open((f.dir.path() / "data").string(), f.store.get(), f.limits);
  CHECK(second.ok());
  CHECK(FileStore::Open((f.dir.path() / "other").string(), f.store.get(), FileStoreLimits{0})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("file store: result files and deletion", "[jobs]") {
  Fixture f;
  const std::string csv = "step,loss\n10,0.69\n\n20,0.41\n";
  absl::StatusOr<StoredFile> results = f.files->AddResultFile("metrics.csv", csv);
  REQUIRE(results.ok());
  CHECK(results->purpose == FilePurpose::kFineTuneResults);
  CHECK(results->line_count == 3);
  CHECK(results->sha256 == Sha256(csv));
  absl::StatusOr<std::string> path = f.files->Path(results->id);
  REQUIRE(path.ok());
  CHECK(path->size() > 4);
  CHECK(path->substr(path->size() - 4) == ".csv");
  CHECK(ReadAll(*path) == csv);

  absl::StatusOr<StoredFile> upload = f.Put("{}\n");
  REQUIRE(upload.ok());
  const std::string upload_path = *f.files->Path(upload->id);
  REQUIRE(f.files->Delete(upload->id).ok());
  CHECK_FALSE(fs::exists(upload_path));
  CHECK(f.store->GetFile(upload->id).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.files->Path(upload->id).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.files->Delete(upload->id).code() == absl::StatusCode::kNotFound);
  CHECK(f.files->Path("../../etc/passwd").status().code() == absl::StatusCode::kNotFound);
  CHECK(fs::exists(*path));  // the other file is untouched
}

}  // namespace
}  // namespace trustformers::jobs
