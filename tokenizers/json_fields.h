// Typed reads of tokenizer.json fields. A missing field or a value of the wrong type becomes
// INVALID_ARGUMENT naming the field's path (e.g. "model.vocab"), so a malformed file never reaches
// nlohmann's throwing accessors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace trustformers::tokenizers {

// The member `key` of `object` (which `path` names), or INVALID_ARGUMENT when it is absent.
absl::StatusOr<const nlohmann::json*> RequiredField(const nlohmann::json& object,
                                                    absl::string_view path, const char* key);
// The member `key`, or nullptr when it is absent or null.
const nlohmann::json* OptionalField(const nlohmann::json& object, const char* key);

absl::StatusOr<bool> ReadBool(const nlohmann::json& object, absl::string_view path,
                              const char* key);
absl::StatusOr<std::string> ReadString(const nlohmann::json& object, absl::string_view path,
                                       const char* key);
absl::StatusOr<uint32_t> ReadUint32(const nlohmann::json& object, absl::string_view path,
                                    const char* key);
absl::StatusOr<size_t> ReadSize(const nlohmann::json& object, absl::string_view path,
                                const char* key);

// `value` (named `path`) as an id or a type id: a JSON integer in 0..2^32-1.
absl::StatusOr<uint32_t> AsUint32(const nlohmann::json& value, absl::string_view path);
// `value` as a string.
absl::StatusOr<std::string> AsString(const nlohmann::json& value, absl::string_view path);

// The "type" string of a component object named `path`.
absl::StatusOr<std::string> ComponentType(const nlohmann::json& component, absl::string_view path);

// "a string", "an array", ... for error messages.
std::string DescribeJsonType(const nlohmann::json& value);

// The bytes of a tokenizer file (tokenizer.json, tokenizer_config.json, a SentencePiece
// .model): NOT_FOUND when it
// cannot be read, INVALID_ARGUMENT over `max_bytes`.
inline constexpr uintmax_t kMaxTokenizerFileBytes = 256u << 20;
absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path,
                                              uintmax_t max_bytes = kMaxTokenizerFileBytes);

// tokenizer.json text as a JSON object: INVALID_ARGUMENT with the parser's message, or naming
// the type when the top level is not an object.
absl::StatusOr<nlohmann::json> ParseTokenizerJson(absl::string_view text);

}  // namespace trustformers::tokenizers
