#include "models/loader/json_file.h"

#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::models {

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read '", path, "': ", ec.message()));
  if (size > kMaxJsonFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is ", size,
                                                   " bytes; a JSON file over ", kMaxJsonFileBytes,
                                                   " bytes is not accepted"));
  }
  std::ifstream in(path, std::ios::binary);
  nlohmann::json value = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not valid JSON"));
  }
  return value;
}

}  // namespace trustformers::models
