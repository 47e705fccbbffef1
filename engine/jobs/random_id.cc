#include "engine/jobs/random_id.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace trustformers::jobs {

absl::StatusOr<std::string> RandomBytes(int count) {
  std::string bytes(static_cast<size_t>(count), '\0');
  if (count > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), count) != 1) {
    return absl::InternalError("the system's random number generator failed");
  }
  return bytes;
}

absl::StatusOr<std::string> RandomId(absl::string_view prefix, int hex_digits) {
  absl::StatusOr<std::string> bytes = RandomBytes(hex_digits / 2);
  if (!bytes.ok()) return bytes.status();
  return absl::StrCat(prefix, absl::BytesToHexString(*bytes));
}

}  // namespace trustformers::jobs
