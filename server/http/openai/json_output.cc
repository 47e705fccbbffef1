#include "server/http/openai/json_output.h"

#include <charconv>
#include <cmath>

namespace trustformers::server::openai {

nlohmann::json FloatForJson(float value) {
  if (!std::isfinite(value)) return nullptr;
  char buffer[32];
  // Without a precision, to_chars writes the shortest text that reads back as the same float.
  const std::to_chars_result written = std::to_chars(buffer, buffer + sizeof(buffer), value);
  double shortest = value;
  std::from_chars(buffer, written.ptr, shortest);
  return shortest;
}

nlohmann::json LogprobForJson(float value) {
  if (std::isinf(value) && value < 0) return -9999.0;
  return FloatForJson(value);
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace trustformers::server::openai
