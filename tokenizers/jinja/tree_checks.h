// Checks over a parsed template that need the whole tree: which special variables a macro body
// reads (jinja2 gives a macro varargs, kwargs or caller only when its body uses them), and
// whether unknown filters and tests sit where jinja2 would refuse them at compile time.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/ast.h"

namespace trustformers::tokenizers::jinja {

// Whether any expression in `body` (nested macros included) reads the variable `name`.
bool ReadsName(const Body& body, absl::string_view name);

// INVALID_ARGUMENT "No filter named 'x'." (or test) with line:column for a filter or test name
// jinja2 does not know, outside conditional code. Inside an if statement or an inline if (but
// not a loop, macro or block nested there) jinja2 defers the error to the moment it runs.
absl::Status CheckNames(const Body& body, absl::string_view source);

}  // namespace trustformers::tokenizers::jinja
