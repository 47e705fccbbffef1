// Methods templates call on plain data: str (strip, split, startswith, replace, ...), dict
// (items, keys, values, get) and list (index, count). Methods that would modify a list or dict
// come back as Undefined carrying the sandbox's "unsafe" message, which calling them raises, as
// in jinja2's ImmutableSandboxedEnvironment.
#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

// The bound method `receiver.name`, or nothing when the type has no such method here.
std::optional<Value> LookupMethod(const Value& receiver, absl::string_view name);

}  // namespace trustformers::tokenizers::jinja
