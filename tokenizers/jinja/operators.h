// Python's operators on template values: arithmetic with int/float promotion and floor
// semantics, string and list concatenation and repetition (markupsafe's escaping when a safe
// string is involved), comparisons, `in`, indexing and slicing by code point.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "tokenizers/jinja/ast.h"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

absl::StatusOr<Value> UnaryOperation(bool negate, const Value& operand);
absl::StatusOr<Value> BinaryOperation(Interpreter& interpreter, BinaryOp op, const Value& left,
                                      const Value& right);
absl::StatusOr<bool> CompareValues(CompareOp op, const Value& left, const Value& right);
// Python's `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// object[start:stop:step] (each None when omitted) for strings, lists and tuples; Undefined
// for other objects, as jinja2 returns.
absl::StatusOr<Value> SliceValue(Interpreter& interpreter, const Value& object, const Value& start,
                                 const Value& stop, const Value& step);
// text[index] by code point (negative from the end), or nothing when out of range.
std::optional<Value> CharAt(const std::string& text, int64_t index);

}  // namespace trustformers::tokenizers::jinja
