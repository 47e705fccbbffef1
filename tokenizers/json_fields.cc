#include "tokenizers/json_fields.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

using json = nlohmann::json;

absl::Status WrongType(absl::string_view path, absl::string_view expected, const json& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, " must be ", expected, ", not ", DescribeJsonType(value)));
}

}  // namespace

std::string DescribeJsonType(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
      return absl::StrCat("the integer ", value.get<int64_t>());
    case json::value_t::number_unsigned:
      return absl::StrCat("the integer ", value.get<uint64_t>());
    case json::value_t::number_float:
      return absl::StrCat("the number ", value.get<double>());
    default:
      return "an unsupported JSON value";
  }
}

absl::StatusOr<const json*> RequiredField(const json& object, absl::string_view path,
                                          const char* key) {
  if (!object.is_object()) return WrongType(path, "an object", object);
  auto it = object.find(key);
  if (it == object.end()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no \"", key, "\" field"));
  }
  return &*it;
}

const json* OptionalField(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<bool> ReadBool(const json& object, absl::string_view path, const char* key) {
  absl::StatusOr<const json*> field = RequiredField(object, path, key);
  if (!field.ok()) return field.status();
  if (!(*field)->is_boolean()) return WrongType(absl::StrCat(path, ".", key), "a boolean", **field);
  return (*field)->get<bool>();
}

absl::StatusOr<std::string> ReadString(const json& object, absl::string_view path,
                                       const char* key) {
  absl::StatusOr<const json*> field = RequiredField(object, path, key);
  if (!field.ok()) return field.status();
  return AsString(**field, absl::StrCat(path, ".", key));
}

absl::StatusOr<uint32_t> ReadUint32(const json& object, absl::string_view path, const char* key) {
  absl::StatusOr<const json*> field = RequiredField(object, path, key);
  if (!field.ok()) return field.status();
  return AsUint32(**field, absl::StrCat(path, ".", key));
}

absl::StatusOr<size_t> ReadSize(const json& object, absl::string_view path, const char* key) {
  absl::StatusOr<const json*> field = RequiredField(object, path, key);
  if (!field.ok()) return field.status();
  if (!(*field)->is_number_unsigned()) {
    return WrongType(absl::StrCat(path, ".", key), "a non-negative integer", **field);
  }
  const uint64_t value = (*field)->get<uint64_t>();
  if (value > std::numeric_limits<size_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".", key, " is too large: ", value));
  }
  return static_cast<size_t>(value);
}

absl::StatusOr<uint32_t> AsUint32(const json& value, absl::string_view path) {
  if (!value.is_number_unsigned()) return WrongType(path, "a non-negative integer", value);
  const uint64_t number = value.get<uint64_t>();
  if (number > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", number, ", out of the range of token ids (0 to 2^32-1)"));
  }
  return static_cast<uint32_t>(number);
}

absl::StatusOr<std::string> AsString(const json& value, absl::string_view path) {
  if (!value.is_string()) return WrongType(path, "a string", value);
  return value.get<std::string>();
}

absl::StatusOr<std::string> ComponentType(const json& component, absl::string_view path) {
  if (!component.is_object()) return WrongType(path, "an object", component);
  auto it = component.find("type");
  if (it == component.end()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has no \"type\" field"));
  }
  return AsString(*it, absl::StrCat(path, ".type"));
}

absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path, uintmax_t max_bytes) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot read '", path, "': ", error.message()));
  }
  if (size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is ", size,
                                                   " bytes; tokenizer files over ", max_bytes,
                                                   " bytes are refused"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  return contents;
}

absl::StatusOr<nlohmann::json> ParseTokenizerJson(absl::string_view text) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json is not valid JSON: ", e.what()));
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.json must hold an object, not ", DescribeJsonType(config)));
  }
  return config;
}

}  // namespace trustformers::tokenizers
