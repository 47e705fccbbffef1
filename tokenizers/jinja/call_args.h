// Arguments of a call from a template, and their binding to a Python-style signature for the
// built-in filters, tests, methods and globals.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// `args` matched to named parameters, positionally first, then by keyword.
class BoundArgs {
 public:
  // INVALID_ARGUMENT in Python's words for too many arguments, an unknown or repeated keyword,
  // or fewer than `required` arguments.
  static absl::StatusOr<BoundArgs> Bind(absl::string_view function, CallArgs args,
                                        std::initializer_list<absl::string_view> params,
                                        size_t required = 0);

  bool Has(size_t index) const { return values_[index].has_value(); }
  // The argument, or Undefined when it was not passed.
  const Value& Get(size_t index) const;
  Value GetOr(size_t index, Value fallback) const;

 private:
  std::vector<std::optional<Value>> values_;
};

}  // namespace trustformers::tokenizers::jinja
