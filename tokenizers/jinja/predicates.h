// jinja2's tests, the right-hand side of `x is name`: defined, none, string, mapping, iterable,
// sequence, number, integer, boolean, true, false, odd, even, divisibleby, eq / equalto, in...
// (named predicates here to keep them apart from this project's unit tests).
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/call_args.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

class Interpreter;

// `name` must be an implemented test (see builtins.h).
absl::StatusOr<bool> CallTest(Interpreter& interpreter, absl::string_view name, const Value& input,
                              CallArgs args);

}  // namespace trustformers::tokenizers::jinja
