// Splits a template into text and the tokens inside {{ }} / {% %} tags, applying jinja2's
// whitespace rules as transformers configures them: trim_blocks (the newline after a block or
// comment tag goes), lstrip_blocks (spaces and tabs before a block or comment tag on its own line
// go), and the explicit `-` / `+` markers. Comments and {% raw %} sections are resolved here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers::jinja {

enum class TokenKind : uint8_t {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  // Byte offset of the token in the normalised source.
  uint32_t offset = 0;
  // Text of kData, identifier of kName, decoded value of kString, spelling of kOperator.
  std::string text;
  int64_t integer = 0;
  double number = 0;
};

// The source as jinja2 reads it: "\r\n" and "\r" become "\n" and one trailing newline is dropped.
std::string NormalizeSource(absl::string_view source);

// Tokens of a normalised source, ending with kEof; INVALID_ARGUMENT with line:column for text
// jinja2's lexer rejects.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source);

// INVALID_ARGUMENT "chat template line L:C: message" for the position `offset` of `source`.
absl::Status ErrorAt(absl::string_view source, uint32_t offset, absl::string_view message);
// "L:C" (1-based, columns in code points) of a byte offset.
std::string LineColumn(absl::string_view source, uint32_t offset);

}  // namespace trustformers::tokenizers::jinja
