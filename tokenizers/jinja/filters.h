// jinja2's built-in filters (length, trim, join, map, selectattr, dictsort, ...) with their
// Python results, and transformers' `tojson` (json.dumps with ensure_ascii, indent, separators
// and sort_keys, no HTML escaping). Filters jinja2 returns generators from (select, map,
// unique, items, reverse) return iterators here, so `|length` on them fails as it does there.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/call_args.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

class Interpreter;

// `name` must be an implemented filter (see builtins.h).
absl::StatusOr<Value> CallFilter(Interpreter& interpreter, absl::string_view name,
                                 const Value& input, CallArgs args);

}  // namespace trustformers::tokenizers::jinja
