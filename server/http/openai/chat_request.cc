#include "server/http/openai/chat_request.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/sampling/sampling_params.h"
#include "google/protobuf/struct.pb.h"
#include "server/http/openai/json_output.h"
#include "server/http/openai/openai_error.h"

namespace trustformers::server::openai {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
// Deeper chat_template_kwargs are refused rather than risking the stack on recursion.
constexpr int kMaxKwargsDepth = 32;

bool JsonToValue(const nlohmann::json& json, int depth, google::protobuf::Value* out) {
  if (depth > kMaxKwargsDepth) return false;
  switch (json.type()) {
    case nlohmann::json::value_t::null:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return true;
    case nlohmann::json::value_t::boolean:
      out->set_bool_value(json.get<bool>());
      return true;
    case nlohmann::json::value_t::string:
      out->set_string_value(json.get<std::string>());
      return true;
    case nlohmann::json::value_t::array:
      for (const nlohmann::json& item : json) {
        if (!JsonToValue(item, depth + 1, out->mutable_list_value()->add_values())) return false;
      }
      out->mutable_list_value();  // an empty array is still a list
      return true;
    case nlohmann::json::value_t::object:
      out->mutable_struct_value();
      for (const auto& [key, value] : json.items()) {
        if (!JsonToValue(value, depth + 1, &(*out->mutable_struct_value()->mutable_fields())[key]))
          return false;
      }
      return true;
    default:  // every number kind
      out->set_number_value(json.get<double>());
      return true;
  }
}

// A content array's text parts, concatenated. Only text exists for our models.
absl::Status ReadContentParts(const nlohmann::json& parts, const std::string& param,
                              std::string* out) {
  for (size_t j = 0; j < parts.size(); ++j) {
    const std::string part_param = absl::StrCat(param, "[", j, "]");
    const nlohmann::json& part = parts[j];
    if (!part.is_object()) {
      return ParamError(
          part_param, kInvalidType,
          absl::StrCat("'", part_param, "' must be an object, got ", JsonTypeName(part)));
    }
    FieldReader reader(part, part_param + ".");
    const nlohmann::json* type = reader.Require("type");
    if (type != nullptr && (!type->is_string() || type->get_ref<const std::string&>() != "text")) {
      reader.Fail("type", kUnsupportedValue,
                  absl::StrCat("content parts of type ", DumpJson(*type),
                               " are not supported; only \"text\" is"));
    }
    if (const nlohmann::json* text = reader.Require("text"); text != nullptr) {
      if (text->is_string()) {
        out->append(text->get_ref<const std::string&>());
      } else {
        reader.Fail("text", kInvalidType,
                    absl::StrCat("'", reader.Param("text"), "' must be a string, got ",
                                 JsonTypeName(*text)));
      }
    }
    if (!reader.ok()) return reader.status();
  }
  return absl::OkStatus();
}

absl::Status ReadMessage(const nlohmann::json& message, size_t i, v1::ChatMessage* out) {
  const std::string param = absl::StrCat("messages[", i, "]");
  if (!message.is_object()) {
    return ParamError(param, kInvalidType,
                      absl::StrCat("'", param, "' must be an object, got ", JsonTypeName(message)));
  }
  FieldReader reader(message, param + ".");
  std::string role;
  if (reader.Require("role") != nullptr) role = reader.String("role").value_or("");
  if (!reader.ok()) return reader.status();
  if (role == "developer") role = "system";
  if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
    return ParamError(
        reader.Param("role"), kInvalidValue,
        absl::StrCat("'", reader.Param("role"), "' must be one of \"system\", ",
                     "\"developer\", \"user\", \"assistant\" or \"tool\", got \"", role, "\""));
  }
  out->set_role(role);

  const nlohmann::json* content =
      role == "assistant" ? reader.Find("content") : reader.Require("content");
  if (content != nullptr) {
    if (content->is_string()) {
      out->set_content(content->get<std::string>());
    } else if (content->is_array()) {
      if (absl::Status s =
              ReadContentParts(*content, reader.Param("content"), out->mutable_content());
          !s.ok()) {
        return s;
      }
    } else {
      reader.Fail("content", kInvalidType,
                  absl::StrCat("'", reader.Param("content"),
                               "' must be a string or an array of content parts, got ",
                               JsonTypeName(*content)));
    }
  }
  if (auto name = reader.String("name")) out->set_name(*name);
  const nlohmann::json* calls = reader.Find("tool_calls");
  if (calls != nullptr && !(calls->is_array() && calls->empty())) {
    reader.Fail("tool_calls", kUnsupportedParameter, "tool calls are not supported");
  }
  if (reader.Find("function_call") != nullptr) {
    reader.Fail("function_call", kUnsupportedParameter, "function calls are not supported");
  }
  return reader.status();
}

void ReadMessages(FieldReader& reader, v1::GenerateRequest* request) {
  const nlohmann::json* messages = reader.Require("messages");
  if (messages == nullptr) return;
  if (!messages->is_array()) {
    reader.Fail("messages", kInvalidType,
                absl::StrCat("'messages' must be an array, got ", JsonTypeName(*messages)));
    return;
  }
  if (messages->empty()) {
    reader.Fail("messages", kInvalidValue, "'messages' must not be empty");
    return;
  }
  v1::ChatMessages* out = request->mutable_messages();
  for (size_t i = 0; i < messages->size() && reader.ok(); ++i) {
    reader.Fail(ReadMessage((*messages)[i], i, out->add_messages()));
  }
}

void ReadMaxTokens(FieldReader& reader, v1::GenerateRequest* request) {
  std::optional<int64_t> legacy = reader.Int("max_tokens", 0, kInt32Max);
  std::optional<int64_t> current = reader.Int("max_completion_tokens", 0, kInt32Max);
  if (legacy.has_value() && current.has_value() && *legacy != *current) {
    reader.Fail("max_tokens", kInvalidValue,
                absl::StrCat("'max_tokens' (", *legacy, ") and 'max_completion_tokens' (", *current,
                             ") differ; send only 'max_completion_tokens'"));
    return;
  }
  if (current.has_value() || legacy.has_value()) {
    request->mutable_sampling()->set_max_tokens(static_cast<int32_t>(current.value_or(*legacy)));
  }
}

// Tool and function calling, and structured output, need grammar-constrained decoding, which
// the engine does not have: refuse rather than silently answer in free text.
void RefuseUnsupported(FieldReader& reader) {
  if (const nlohmann::json* format = reader.Find("response_format")) {
    const nlohmann::json type =
        format->is_object() ? format->value("type", nlohmann::json()) : nlohmann::json();
    const bool is_text = type.is_string() && type == "text";
    if (!format->is_object()) {
      reader.Fail("response_format", kInvalidType,
                  absl::StrCat("'response_format' must be an object, got ", JsonTypeName(*format)));
    } else if (!is_text) {
      reader.Fail("response_format", kUnsupportedValue,
                  absl::StrCat("'response_format' of type ", DumpJson(type),
                               " is not supported; only {\"type\": \"text\"} is"));
    }
  }
  for (const char* key : {"tools", "functions"}) {
    const nlohmann::json* list = reader.Find(key);
    if (list == nullptr) continue;
    if (!list->is_array()) {
      reader.Fail(key, kInvalidType,
                  absl::StrCat("'", key, "' must be an array, got ", JsonTypeName(*list)));
    } else if (!list->empty()) {
      reader.Fail(key, kUnsupportedParameter,
                  absl::StrCat("'", key, "' is not supported: this server has no tool calling"));
    }
  }
  for (const char* key : {"tool_choice", "function_call"}) {
    const nlohmann::json* choice = reader.Find(key);
    if (choice != nullptr && !(choice->is_string() && (*choice == "none" || *choice == "auto"))) {
      reader.Fail(key, kUnsupportedValue,
                  absl::StrCat("'", key, "' ", DumpJson(*choice),
                               " is not supported: this server has no tool calling"));
    }
  }
}

void ReadLogprobs(FieldReader& reader, ChatCompletionRequest* out) {
  out->logprobs = reader.Bool("logprobs").value_or(false);
  out->top_logprobs =
      static_cast<int32_t>(reader.Int("top_logprobs", 0, engine::kMaxLogprobs).value_or(0));
  if (out->top_logprobs > 0 && !out->logprobs) {
    reader.Fail("top_logprobs", kInvalidValue, "'top_logprobs' requires 'logprobs': true");
    return;
  }
  if (out->logprobs) out->generate.mutable_sampling()->set_logprobs(out->top_logprobs);
}

void ReadTemplateOptions(FieldReader& reader, v1::GenerateRequest* request) {
  if (auto v = reader.Bool("add_generation_prompt")) request->set_add_generation_prompt(*v);
  const nlohmann::json* kwargs = reader.Find("chat_template_kwargs");
  if (kwargs == nullptr) return;
  if (!kwargs->is_object()) {
    reader.Fail(
        "chat_template_kwargs", kInvalidType,
        absl::StrCat("'chat_template_kwargs' must be an object, got ", JsonTypeName(*kwargs)));
    return;
  }
  google::protobuf::Value value;
  if (!JsonToValue(*kwargs, 0, &value)) {
    reader.Fail(
        "chat_template_kwargs", kInvalidValue,
        absl::StrCat("'chat_template_kwargs' is nested deeper than ", kMaxKwargsDepth, " levels"));
    return;
  }
  *request->mutable_chat_template_kwargs() = std::move(*value.mutable_struct_value());
}

}  // namespace

absl::StatusOr<ChatCompletionRequest> ParseChatCompletionRequest(const nlohmann::json& body) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, got ", JsonTypeName(body)));
  }
  try {
    ChatCompletionRequest out;
    FieldReader reader(body);
    ReadSharedFields(reader, &out.generate, &out.flags);
    ReadMessages(reader, &out.generate);
    ReadMaxTokens(reader, &out.generate);
    ReadLogprobs(reader, &out);
    RefuseUnsupported(reader);
    ReadTemplateOptions(reader, &out.generate);
    if (!reader.ok()) return reader.status();
    out.n = NumChoices(out.generate);
    return out;
  } catch (const nlohmann::json::exception& e) {
    // The reads above check every type first; reaching this is a bug, not bad input.
    return absl::InternalError(absl::StrCat("reading the request failed: ", e.what()));
  }
}

}  // namespace trustformers::server::openai
