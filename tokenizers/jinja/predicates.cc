#include "tokenizers/jinja/predicates.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/builtins.h"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/operators.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

absl::StatusOr<const Value*> OneArgument(absl::string_view test, const CallArgs& args) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("test '", test, "' takes exactly one argument"));
  }
  return &args.positional[0];
}

absl::Status NoArguments(absl::string_view test, const CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("test '", test, "' takes no arguments"));
  }
  return absl::OkStatus();
}

// Python's value % divisor == 0 / == 1 for the odd, even and divisibleby tests.
absl::StatusOr<Value> Modulo(Interpreter& interpreter, const Value& value, const Value& divisor) {
  if (value.IsString()) {
    return absl::InvalidArgumentError("not all arguments converted during string formatting");
  }
  return BinaryOperation(interpreter, BinaryOp::kMod, value, divisor);
}

absl::StatusOr<bool> CompareTest(CompareOp op, const Value& value, const CallArgs& args,
                                 absl::string_view name) {
  JINJA_ASSIGN_OR_RETURN(const Value* other, OneArgument(name, args));
  return CompareValues(op, value, *other);
}

}  // namespace

absl::StatusOr<bool> CallTest(Interpreter& interpreter, absl::string_view name, const Value& value,
                              CallArgs args) {
  if (name == "==" || name == "eq" || name == "equalto") {
    return CompareTest(CompareOp::kEq, value, args, name);
  }
  if (name == "!=" || name == "ne") return CompareTest(CompareOp::kNe, value, args, name);
  if (name == "<" || name == "lt" || name == "lessthan") {
    return CompareTest(CompareOp::kLt, value, args, name);
  }
  if (name == "<=" || name == "le") return CompareTest(CompareOp::kLe, value, args, name);
  if (name == ">" || name == "gt" || name == "greaterthan") {
    return CompareTest(CompareOp::kGt, value, args, name);
  }
  if (name == ">=" || name == "ge") return CompareTest(CompareOp::kGe, value, args, name);
  if (name == "in") {
    JINJA_ASSIGN_OR_RETURN(const Value* container, OneArgument(name, args));
    return Contains(*container, value);
  }
  if (name == "sameas") {
    JINJA_ASSIGN_OR_RETURN(const Value* other, OneArgument(name, args));
    return value.SameAs(*other);
  }
  if (name == "divisibleby") {
    JINJA_ASSIGN_OR_RETURN(const Value* divisor, OneArgument(name, args));
    JINJA_ASSIGN_OR_RETURN(Value rest, Modulo(interpreter, value, *divisor));
    return Equals(rest, Value::Int(0));
  }
  JINJA_RETURN_IF_ERROR(NoArguments(name, args));
  if (name == "odd" || name == "even") {
    JINJA_ASSIGN_OR_RETURN(Value rest, Modulo(interpreter, value, Value::Int(2)));
    return Equals(rest, Value::Int(name == "odd" ? 1 : 0));
  }
  if (name == "defined") return !value.IsUndefined();
  if (name == "undefined") return value.IsUndefined();
  if (name == "none") return value.IsNone();
  if (name == "boolean") return value.IsBool();
  if (name == "true") return value.IsBool() && value.bool_value();
  if (name == "false") return value.IsBool() && !value.bool_value();
  if (name == "integer") return value.IsInt();
  if (name == "float") return value.IsFloat();
  // bool is a numbers.Number in Python.
  if (name == "number") return value.IsNumber();
  if (name == "string") return value.IsString();
  if (name == "mapping") return value.IsDict();
  if (name == "escaped") return value.IsMarkup();
  if (name == "callable") {
    // Undefined defines __call__ (to raise), so Python's callable() accepts it.
    return value.IsUndefined() || (value.IsObject() && value.object()->IsCallable());
  }
  if (name == "iterable") {
    return value.IsUndefined() || value.IsString() || value.IsList() || value.IsDict() ||
           (value.IsObject() && std::string(value.object()->TypeName()) == "LoopContext");
  }
  if (name == "sequence") {
    // Anything with len() and __getitem__: dicts too, and Undefined; not generators.
    return value.IsUndefined() || value.IsString() || value.IsDict() || value.IsSequence();
  }
  if (name == "lower" || name == "upper") {
    if (value.IsIterator()) return false;
    const std::string text = Str(value);
    return name == "lower" ? IsLower(text) : IsUpper(text);
  }
  if (name == "filter") {
    return value.IsString() && FilterAvailability(value.string()) != Availability::kUnknown;
  }
  if (name == "test") {
    return value.IsString() && TestAvailability(value.string()) != Availability::kUnknown;
  }
  return absl::InvalidArgumentError(absl::StrCat("No test named '", name, "'."));
}

}  // namespace trustformers::tokenizers::jinja
