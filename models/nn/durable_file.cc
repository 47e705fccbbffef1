#include "models/nn/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace trustformers::nn {
namespace {

std::string Errno() { return std::strerror(errno); }

}  // namespace

absl::Status SyncDirectory(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot open '", folder, "': ", Errno()));
  }
  const int rc = ::fsync(fd);
  const std::string error = rc != 0 ? Errno() : "";
  ::close(fd);
  if (rc != 0) return absl::DataLossError(absl::StrCat("cannot sync '", folder, "': ", error));
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create '", temp, "': ", Errno()));
  }
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = Errno();
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::DataLossError(absl::StrCat("error while writing '", temp, "': ", error));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string error = Errno();
    ::close(fd);
    ::unlink(temp.c_str());
    return absl::DataLossError(absl::StrCat("cannot sync '", temp, "': ", error));
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string error = Errno();
    ::unlink(temp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename '", temp, "' to '", path, "': ", error));
  }
  std::string folder = std::filesystem::path(path).parent_path().string();
  return SyncDirectory(folder.empty() ? "." : folder);
}

}  // namespace trustformers::nn
