#include "server/http/openai/json_fields.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

// An integral JSON number as int64 in [min, max]; nullopt for other values. Integral floats
// are accepted because some JSON writers print every number with a fraction.
std::optional<int64_t> IntegerIn(const nlohmann::json& value, int64_t min, int64_t max) {
  int64_t n = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    n = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    n = value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    // 2^63 is exact as a double; anything at or above it does not fit.
    if (!(std::trunc(d) == d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18) {
      return std::nullopt;
    }
    n = static_cast<int64_t>(d);
  } else {
    return std::nullopt;
  }
  if (n < min || n > max) return std::nullopt;
  return n;
}

std::string RangeText(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return absl::StrCat("an integer >= ", min);
  return absl::StrCat("an integer in [", min, ", ", max, "]");
}

}  // namespace

std::string JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer";
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

FieldReader::FieldReader(const nlohmann::json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {}

std::string FieldReader::Param(absl::string_view key) const { return absl::StrCat(prefix_, key); }

void FieldReader::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

void FieldReader::Fail(absl::string_view key, absl::string_view code, absl::string_view message) {
  Fail(ParamError(Param(key), code, message));
}

const nlohmann::json* FieldReader::Find(absl::string_view key) {
  if (!status_.ok() || !object_.is_object()) return nullptr;
  auto it = object_.find(std::string(key));
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

const nlohmann::json* FieldReader::Require(absl::string_view key) {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) {
    Fail(key, kMissingParameter, absl::StrCat("'", Param(key), "' is required"));
  }
  return value;
}

std::optional<bool> FieldReader::Bool(absl::string_view key) {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    Fail(key, kInvalidType,
         absl::StrCat("'", Param(key), "' must be a boolean, got ", JsonTypeName(*value)));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<std::string> FieldReader::String(absl::string_view key) {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    Fail(key, kInvalidType,
         absl::StrCat("'", Param(key), "' must be a string, got ", JsonTypeName(*value)));
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<int64_t> FieldReader::Int(absl::string_view key, int64_t min, int64_t max) {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) {
    Fail(key, kInvalidType,
         absl::StrCat("'", Param(key), "' must be an integer, got ", JsonTypeName(*value)));
    return std::nullopt;
  }
  std::optional<int64_t> n = IntegerIn(*value, min, max);
  if (!n.has_value()) {
    Fail(key, kInvalidValue,
         absl::StrCat("'", Param(key), "' must be ", RangeText(min, max), ", got ", value->dump()));
  }
  return n;
}

std::optional<float> FieldReader::Float(absl::string_view key, float min, float max,
                                        bool min_exclusive) {
  const nlohmann::json* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) {
    Fail(key, kInvalidType,
         absl::StrCat("'", Param(key), "' must be a number, got ", JsonTypeName(*value)));
    return std::nullopt;
  }
  const double d = value->get<double>();
  const bool above_min = min_exclusive ? d > min : d >= min;
  if (!(above_min && d <= max)) {
    Fail(key, kInvalidValue,
         absl::StrCat("'", Param(key), "' must be in ", min_exclusive ? "(" : "[", min, ", ", max,
                      "], got ", value->dump()));
    return std::nullopt;
  }
  return static_cast<float>(d);
}

absl::Status JsonToInt32(const nlohmann::json& value, absl::string_view param, int64_t min,
                         int64_t max, int32_t* out) {
  if (!value.is_number()) {
    return ParamError(param, kInvalidType,
                      absl::StrCat("'", param, "' must be an integer, got ", JsonTypeName(value)));
  }
  min = std::max<int64_t>(min, std::numeric_limits<int32_t>::min());
  max = std::min<int64_t>(max, std::numeric_limits<int32_t>::max());
  std::optional<int64_t> n = IntegerIn(value, min, max);
  if (!n.has_value()) {
    return ParamError(
        param, kInvalidValue,
        absl::StrCat("'", param, "' must be ", RangeText(min, max), ", got ", value.dump()));
  }
  *out = static_cast<int32_t>(*n);
  return absl::OkStatus();
}

absl::Status JsonToTokenIds(const nlohmann::json& value, absl::string_view param,
                            std::vector<int32_t>* out) {
  if (!value.is_array()) {
    return ParamError(
        param, kInvalidType,
        absl::StrCat("'", param, "' must be an array of token ids, got ", JsonTypeName(value)));
  }
  if (value.empty()) {
    return ParamError(param, kInvalidValue, absl::StrCat("'", param, "' must not be empty"));
  }
  out->clear();
  out->reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    int32_t id = 0;
    if (absl::Status s = JsonToInt32(value[i], absl::StrCat(param, "[", i, "]"), 0,
                                     std::numeric_limits<int32_t>::max(), &id);
        !s.ok()) {
      return s;
    }
    out->push_back(id);
  }
  return absl::OkStatus();
}

bool IsIntegerArray(const nlohmann::json& value) {
  if (!value.is_array()) return false;
  for (const nlohmann::json& element : value) {
    if (!element.is_number_integer() && !element.is_number_unsigned()) return false;
  }
  return true;
}

}  // namespace trustformers::server::openai
