#include "tokenizers/chat_template.h"

#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/json_dump.h"
#include "tokenizers/jinja/parser.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers {
namespace {

template <typename Json>
absl::StatusOr<std::string> RenderJson(const jinja::Template& parsed, const Json& context,
                                       const ChatTemplate::RenderOptions& options) {
  if (!context.is_object()) {
    return absl::InvalidArgumentError("chat template context must be a JSON object");
  }
  try {
    absl::StatusOr<jinja::Value> variables =
        jinja::FromJson(context, options.limits.max_value_depth);
    if (!variables.ok()) return variables.status();
    jinja::Interpreter interpreter(parsed, options.limits,
                                   options.now.has_value() ? &*options.now : nullptr);
    return interpreter.Render(*variables);
  } catch (const std::exception& e) {
    // nlohmann's accessors and allocation are the only sources; nothing else throws.
    return absl::InvalidArgumentError(absl::StrCat("chat template context: ", e.what()));
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<jinja::Template> parsed)
    : template_(std::move(parsed)) {}

ChatTemplate::~ChatTemplate() = default;

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Parse(absl::string_view source) {
  if (absl::Status valid = ValidateUtf8(source); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("chat template: ", valid.message()));
  }
  absl::StatusOr<std::unique_ptr<jinja::Template>> parsed = jinja::ParseTemplate(source);
  if (!parsed.ok()) return parsed.status();
  return std::unique_ptr<ChatTemplate>(new ChatTemplate(*std::move(parsed)));
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  return Render(context, RenderOptions());
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context,
                                                 const RenderOptions& options) const {
  return RenderJson(*template_, context, options);
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::json& context) const {
  return Render(context, RenderOptions());
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::json& context,
                                                 const RenderOptions& options) const {
  return RenderJson(*template_, context, options);
}

}  // namespace trustformers::tokenizers
