// The names jinja2 knows as filters and tests, split into those implemented here and those it has
// but chat templates do not need. The parser refuses names jinja2 does not know (jinja2 refuses
// them at compile time); the interpreter refuses the unimplemented ones only when a render
// reaches them, so a template that merely mentions one in an unused branch still works.
#pragma once

#include "absl/strings/string_view.h"

namespace trustformers::tokenizers::jinja {

enum class Availability { kUnknown, kUnimplemented, kImplemented };

Availability FilterAvailability(absl::string_view name);
Availability TestAvailability(absl::string_view name);

}  // namespace trustformers::tokenizers::jinja
