#include "tokenizers/jinja/json_dump.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"
#include "tokenizers/utf8.h"

namespace trustformers::tokenizers::jinja {
namespace {

void AppendEscapedUnit(uint32_t unit, std::string* out) {
  absl::StrAppend(out, "\\u", absl::Hex(unit, absl::kZeroPad4));
}

void AppendJsonString(absl::string_view text, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const char32_t c = DecodeUtf8(text, &pos);
    switch (c) {
      case U'"':
        out->append("\\\"");
        continue;
      case U'\\':
        out->append("\\\\");
        continue;
      case U'\n':
        out->append("\\n");
        continue;
      case U'\r':
        out->append("\\r");
        continue;
      case U'\t':
        out->append("\\t");
        continue;
      case U'\b':
        out->append("\\b");
        continue;
      case U'\f':
        out->append("\\f");
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      AppendEscapedUnit(c, out);
    } else if (ensure_ascii && c > 0x7E) {
      // Python escapes DEL too when ensure_ascii is on, and splits astral characters into
      // UTF-16 surrogate pairs.
      if (c >= 0x10000) {
        const uint32_t v = c - 0x10000;
        AppendEscapedUnit(0xD800 | (v >> 10), out);
        AppendEscapedUnit(0xDC00 | (v & 0x3FF), out);
      } else {
        AppendEscapedUnit(c, out);
      }
    } else {
      absl::StrAppend(out, text.substr(start, pos - start));
    }
  }
  out->push_back('"');
}

std::string JsonFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  return FloatRepr(value);
}

// json.dumps turns non-str keys into strings, the way JSON spells the scalar.
absl::StatusOr<std::string> KeyString(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return key.string();
    case Value::Kind::kBool:
      return std::string(key.bool_value() ? "true" : "false");
    case Value::Kind::kInt:
      return absl::StrCat(key.int_value());
    case Value::Kind::kFloat:
      return JsonFloat(key.float_value());
    case Value::Kind::kNone:
      return std::string("null");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("keys must be str, int, float, bool or None, not ", TypeName(key)));
  }
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {}

  absl::Status Dump(const Value& value, int level, std::string* out) {
    switch (value.kind()) {
      case Value::Kind::kNone:
        out->append("null");
        return absl::OkStatus();
      case Value::Kind::kBool:
        out->append(value.bool_value() ? "true" : "false");
        return absl::OkStatus();
      case Value::Kind::kInt:
        absl::StrAppend(out, value.int_value());
        return absl::OkStatus();
      case Value::Kind::kFloat:
        out->append(JsonFloat(value.float_value()));
        return absl::OkStatus();
      case Value::Kind::kString:
        AppendJsonString(value.string(), options_.ensure_ascii, out);
        return CheckSize(*out);
      case Value::Kind::kList:
        if (!value.IsSequence()) break;
        return DumpList(value.list(), level, out);
      case Value::Kind::kDict:
        return DumpDict(value.dict(), level, out);
      default:
        break;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("Object of type ", TypeName(value), " is not JSON serializable"));
  }

 private:
  absl::Status CheckSize(const std::string& out) const {
    if (out.size() <= options_.max_bytes) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("tojson output exceeds ", options_.max_bytes, " bytes"));
  }

  void NewLine(int level, std::string* out) const {
    if (!options_.indent.has_value()) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) out->append(*options_.indent);
  }

  absl::Status DumpList(const ListData& list, int level, std::string* out) {
    if (list.items.empty()) {
      out->append("[]");
      return absl::OkStatus();
    }
    out->push_back('[');
    NewLine(level + 1, out);
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (i > 0) {
        out->append(options_.item_separator);
        NewLine(level + 1, out);
      }
      JINJA_RETURN_IF_ERROR(Dump(list.items[i], level + 1, out));
      JINJA_RETURN_IF_ERROR(CheckSize(*out));
    }
    NewLine(level, out);
    out->push_back(']');
    return absl::OkStatus();
  }

  absl::Status DumpDict(const DictData& dict, int level, std::string* out) {
    if (dict.items.empty()) {
      out->append("{}");
      return absl::OkStatus();
    }
    std::vector<const std::pair<Value, Value>*> items;
    items.reserve(dict.items.size());
    for (const auto& item : dict.items) items.push_back(&item);
    if (options_.sort_keys) {
      // Python sorts the keys themselves, so keys of mixed types cannot be sorted.
      absl::Status error;
      std::stable_sort(items.begin(), items.end(), [&](const auto* a, const auto* b) {
        absl::StatusOr<int> c = Compare(a->first, b->first);
        if (!c.ok()) {
          if (error.ok()) error = c.status();
          return false;
        }
        return *c < 0;
      });
      JINJA_RETURN_IF_ERROR(error);
    }
    out->push_back('{');
    NewLine(level + 1, out);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        out->append(options_.item_separator);
        NewLine(level + 1, out);
      }
      JINJA_ASSIGN_OR_RETURN(std::string key, KeyString(items[i]->first));
      AppendJsonString(key, options_.ensure_ascii, out);
      out->append(options_.key_separator);
      JINJA_RETURN_IF_ERROR(Dump(items[i]->second, level + 1, out));
      JINJA_RETURN_IF_ERROR(CheckSize(*out));
    }
    NewLine(level, out);
    out->push_back('}');
    return absl::OkStatus();
  }

  const JsonDumpOptions& options_;
};

template <typename Json>
absl::StatusOr<Value> Convert(const Json& json, int depth_left) {
  if (depth_left <= 0 && (json.is_array() || json.is_object())) {
    return absl::InvalidArgumentError("chat template context is nested too deeply");
  }
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(json.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t value = json.template get<uint64_t>();
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(
            absl::StrCat("chat template context: integer ", value, " is out of range"));
      }
      return Value::Int(static_cast<int64_t>(value));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(json.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) {
        JINJA_ASSIGN_OR_RETURN(Value value, Convert(item, depth_left - 1));
        items.push_back(std::move(value));
      }
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      DictData dict;
      dict.items.reserve(json.size());
      for (auto it = json.begin(); it != json.end(); ++it) {
        JINJA_ASSIGN_OR_RETURN(Value value, Convert(it.value(), depth_left - 1));
        dict.Set(it.key(), std::move(value));
      }
      return Value::Dict(std::move(dict));
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  return absl::InvalidArgumentError("chat template context holds binary JSON data");
}

}  // namespace

absl::StatusOr<std::string> JsonDumps(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  Dumper dumper(options);
  JINJA_RETURN_IF_ERROR(dumper.Dump(value, 0, &out));
  return out;
}

absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json, int max_depth) {
  return Convert(json, max_depth);
}

absl::StatusOr<Value> FromJson(const nlohmann::json& json, int max_depth) {
  return Convert(json, max_depth);
}

}  // namespace trustformers::tokenizers::jinja
