// Builds the statement tree of a template from its tokens, with jinja2's grammar and operator
// precedence. Constructs jinja2 has but chat templates must not use (extends, include, import,
// block, recursive loops) are refused by name; unknown filters and tests are refused here, as
// jinja2 refuses them when it compiles a template.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/ast.h"

namespace trustformers::tokenizers::jinja {

struct Template {
  // The normalised source (see NormalizeSource), for line:column in errors.
  std::string source;
  Body body;
};

// INVALID_ARGUMENT "chat template line L:C: ..." for syntax errors and unsupported constructs.
absl::StatusOr<std::unique_ptr<Template>> ParseTemplate(absl::string_view source);

}  // namespace trustformers::tokenizers::jinja
