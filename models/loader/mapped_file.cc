#include "models/loader/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::models {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// The file's bytes in fresh anonymous memory starting on a 2 MiB boundary, advised for huge
// pages; `region` and `region_size` receive what to unmap.
absl::StatusOr<const uint8_t*> CopyToHugePages(const std::string& path, const void* mapped,
                                               size_t size, void** region, size_t* region_size) {
  *region_size = (size + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  void* memory = ::mmap(nullptr, *region_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot reserve ", size, " bytes to load '",
                                                     path,
                                                     "' into memory: ", std::strerror(errno)));
  }
  *region = memory;
  const uintptr_t start = reinterpret_cast<uintptr_t>(memory);
  auto* aligned = reinterpret_cast<uint8_t*>((start + kHugePage - 1) / kHugePage * kHugePage);
  // Advice only: without transparent huge pages the copy still works on small pages.
  ::madvise(aligned, size, MADV_HUGEPAGE);
  std::memcpy(aligned, mapped, size);
  ::mprotect(memory, *region_size, PROT_READ);
  return aligned;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path,
                                                             FileLoad load) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    return std::unique_ptr<MappedFile>(new MappedFile(path, nullptr, 0, nullptr, 0));
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_error = errno;
  ::close(fd);  // the mapping keeps the file's pages reachable
  if (mapped == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("cannot memory-map '", path, "': ", std::strerror(map_error)));
  }
  if (load == FileLoad::kMap) {
    return std::unique_ptr<MappedFile>(
        new MappedFile(path, static_cast<const uint8_t*>(mapped), size, mapped, size));
  }
  void* region = nullptr;
  size_t region_size = 0;
  absl::StatusOr<const uint8_t*> copy = CopyToHugePages(path, mapped, size, &region, &region_size);
  ::munmap(mapped, size);
  if (!copy.ok()) return copy.status();
  return std::unique_ptr<MappedFile>(new MappedFile(path, *copy, size, region, region_size));
}

MappedFile::~MappedFile() {
  if (region_ != nullptr) ::munmap(region_, region_size_);
}

}  // namespace trustformers::models
