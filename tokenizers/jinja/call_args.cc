#include "tokenizers/jinja/call_args.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trustformers::tokenizers::jinja {

absl::StatusOr<BoundArgs> BoundArgs::Bind(absl::string_view function, CallArgs args,
                                          std::initializer_list<absl::string_view> params,
                                          size_t required) {
  BoundArgs bound;
  bound.values_.resize(params.size());
  if (args.positional.size() > params.size()) {
    return absl::InvalidArgumentError(absl::StrCat(function, "() takes at most ", params.size(),
                                                   " arguments (", args.positional.size(),
                                                   " given)"));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound.values_[i] = std::move(args.positional[i]);
  }
  for (auto& [name, value] : args.keyword) {
    size_t index = 0;
    for (absl::string_view param : params) {
      if (param == name) break;
      ++index;
    }
    if (index == params.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, "() got an unexpected keyword argument '", name, "'"));
    }
    if (bound.values_[index].has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, "() got multiple values for argument '", name, "'"));
    }
    bound.values_[index] = std::move(value);
  }
  for (size_t i = 0; i < required; ++i) {
    if (!bound.values_[i].has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, "() missing required argument '", *(params.begin() + i), "'"));
    }
  }
  return bound;
}

const Value& BoundArgs::Get(size_t index) const {
  static const Value* const kUndefined = new Value();
  return values_[index].has_value() ? *values_[index] : *kUndefined;
}

Value BoundArgs::GetOr(size_t index, Value fallback) const {
  return values_[index].has_value() ? *values_[index] : std::move(fallback);
}

}  // namespace trustformers::tokenizers::jinja
