#include "tokenizers/jinja/builtins.h"

#include <algorithm>
#include <initializer_list>

namespace trustformers::tokenizers::jinja {
namespace {

bool Contains(std::initializer_list<absl::string_view> names, absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

Availability FilterAvailability(absl::string_view name) {
  if (Contains(
          {"abs",      "attr",   "capitalize", "center",     "count",      "d",           "default",
           "dictsort", "e",      "escape",     "first",      "float",      "forceescape", "indent",
           "int",      "items",  "join",       "last",       "length",     "list",        "lower",
           "map",      "max",    "min",        "reject",     "rejectattr", "replace",     "reverse",
           "round",    "safe",   "select",     "selectattr", "sort",       "string",      "sum",
           "title",    "tojson", "trim",       "unique",     "upper",      "wordcount"},
          name)) {
    return Availability::kImplemented;
  }
  // jinja2 has these; no chat template we know of uses them.
  if (Contains({"batch", "filesizeformat", "format", "groupby", "pprint", "random", "slice",
                "striptags", "truncate", "urlencode", "urlize", "wordwrap", "xmlattr"},
               name)) {
    return Availability::kUnimplemented;
  }
  return Availability::kUnknown;
}

Availability TestAvailability(absl::string_view name) {
  if (Contains(
          {"!=",       "<",        "<=",          "==",       ">",           ">=",       "boolean",
           "callable", "defined",  "divisibleby", "eq",       "equalto",     "escaped",  "even",
           "false",    "filter",   "float",       "ge",       "greaterthan", "gt",       "in",
           "integer",  "iterable", "le",          "lessthan", "lower",       "lt",       "mapping",
           "ne",       "none",     "number",      "odd",      "sameas",      "sequence", "string",
           "test",     "true",     "undefined",   "upper"},
          name)) {
    return Availability::kImplemented;
  }
  return Availability::kUnknown;
}

}  // namespace trustformers::tokenizers::jinja
