// Chat templates: the Jinja programs models ship (GGUF `tokenizer.chat_template`,
// tokenizer_config.json's `chat_template`) that turn a list of messages into the prompt text.
// The output is byte-identical to Hugging Face's apply_chat_template, which renders with
// jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) plus the
// loopcontrols extension and transformers' raise_exception, strftime_now, tojson, namespace and
// dict; tokenizers/jinja/ holds the interpreter. Templates come from user-supplied files, so
// rendering is sandboxed (data only, no files) and bounded in time, memory and recursion.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"
#include "tokenizers/jinja/limits.h"

namespace trustformers::tokenizers {

namespace jinja {
struct Template;
}  // namespace jinja

// Parsed once at model load, then rendered per request from any number of threads.
class ChatTemplate {
 public:
  struct RenderOptions {
    // What strftime_now() formats; the local time when absent.
    std::optional<std::tm> now;
    jinja::Limits limits;
  };

  // INVALID_ARGUMENT "chat template line L:C: ..." for a syntax error or a construct this
  // interpreter does not support (named in the message).
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Parse(absl::string_view source);

  ~ChatTemplate();
  ChatTemplate(const ChatTemplate&) = delete;
  ChatTemplate& operator=(const ChatTemplate&) = delete;

  // `context` is a JSON object whose members are the template's variables: messages (a list of
  // {role, content, ...}), add_generation_prompt, bos_token, eos_token, tools, documents and
  // any extra keyword arguments. Pass an ordered_json to keep the key order Python would see:
  // tojson prints keys in that order. Errors are INVALID_ARGUMENT: a template's
  // raise_exception() message verbatim, or "chat template line L:C: ..." for anything else
  // (an undefined value misused, a type error, a limit exceeded).
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context,
                                     const RenderOptions& options) const;
  // Objects read from a plain nlohmann::json come in sorted key order.
  absl::StatusOr<std::string> Render(const nlohmann::json& context) const;
  absl::StatusOr<std::string> Render(const nlohmann::json& context,
                                     const RenderOptions& options) const;

 private:
  explicit ChatTemplate(std::unique_ptr<jinja::Template> parsed);

  std::unique_ptr<jinja::Template> template_;
};

}  // namespace trustformers::tokenizers
