#include "tokenizers/jinja/methods.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/objects.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

struct Method {
  absl::string_view name;
  Builtin::Function function;
};

// A str argument that may be None or omitted.
// A str argument that may be None or omitted; `error` is Python's TypeError text.
absl::StatusOr<std::optional<std::string>> OptionalString(const BoundArgs& args, size_t index,
                                                          absl::string_view error) {
  if (!args.Has(index) || args.Get(index).IsNone()) return std::optional<std::string>();
  if (!args.Get(index).IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(error, TypeName(args.Get(index))));
  }
  return std::optional<std::string>(args.Get(index).string());
}

absl::StatusOr<std::string> RequiredString(const BoundArgs& args, size_t index,
                                           absl::string_view error) {
  if (!args.Get(index).IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(error, TypeName(args.Get(index))));
  }
  return args.Get(index).string();
}

absl::StatusOr<int64_t> OptionalInt(const BoundArgs& args, size_t index, int64_t fallback) {
  if (!args.Has(index)) return fallback;
  if (!args.Get(index).IsIntegral()) {
    return absl::InvalidArgumentError(absl::StrCat("'", TypeName(args.Get(index)),
                                                   "' object cannot be interpreted as an integer"));
  }
  return args.Get(index).int_value();
}

absl::StatusOr<Value> StripCommon(absl::string_view method, const Value& self, CallArgs args,
                                  bool left, bool right) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind(method, std::move(args), {"chars"}));
  if (bound.Has(0) && !bound.Get(0).IsNone() && !bound.Get(0).IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(method, " arg must be None or str"));
  }
  JINJA_ASSIGN_OR_RETURN(std::optional<std::string> chars, OptionalString(bound, 0, ""));
  std::optional<std::u32string> set;
  if (chars.has_value()) set = DecodeAll(*chars);
  return Value::StringLike(self, Strip(self.string(), set, left, right));
}

absl::StatusOr<Value> StrStrip(Interpreter&, const Value& self, CallArgs args) {
  return StripCommon("strip", self, std::move(args), true, true);
}
absl::StatusOr<Value> StrLStrip(Interpreter&, const Value& self, CallArgs args) {
  return StripCommon("lstrip", self, std::move(args), true, false);
}
absl::StatusOr<Value> StrRStrip(Interpreter&, const Value& self, CallArgs args) {
  return StripCommon("rstrip", self, std::move(args), false, true);
}

absl::StatusOr<Value> SplitCommon(absl::string_view method, Interpreter& interpreter,
                                  const Value& self, CallArgs args, bool from_right) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind(method, std::move(args), {"sep", "maxsplit"}));
  JINJA_ASSIGN_OR_RETURN(std::optional<std::string> sep,
                         OptionalString(bound, 0, "must be str or None, not "));
  if (sep.has_value() && sep->empty()) return absl::InvalidArgumentError("empty separator");
  JINJA_ASSIGN_OR_RETURN(int64_t maxsplit, OptionalInt(bound, 1, -1));
  std::vector<std::string> parts =
      from_right ? RSplit(self.string(), sep, maxsplit) : Split(self.string(), sep, maxsplit);
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(parts.size())));
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(self.string().size()));
  std::vector<Value> items;
  items.reserve(parts.size());
  for (std::string& part : parts) items.push_back(Value::StringLike(self, std::move(part)));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> StrSplit(Interpreter& interpreter, const Value& self, CallArgs args) {
  return SplitCommon("split", interpreter, self, std::move(args), false);
}
absl::StatusOr<Value> StrRSplit(Interpreter& interpreter, const Value& self, CallArgs args) {
  return SplitCommon("rsplit", interpreter, self, std::move(args), true);
}

absl::StatusOr<Value> StrSplitLines(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind("splitlines", std::move(args), {"keepends"}));
  if (Truthy(bound.Get(0))) return absl::InvalidArgumentError("unsupported: splitlines(True)");
  std::vector<Value> items;
  for (std::string& line : SplitLines(self.string())) {
    items.push_back(Value::StringLike(self, line));
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(items.size())));
  return Value::List(std::move(items));
}

// startswith / endswith with a str or a tuple of str.
absl::StatusOr<Value> AffixCommon(absl::string_view method, const Value& self, CallArgs args,
                                  bool prefix) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind(method, std::move(args), {"affix"}, 1));
  const Value& affix = bound.Get(0);
  std::vector<const Value*> candidates;
  if (affix.IsList() && affix.IsTuple()) {
    for (const Value& item : affix.list().items) candidates.push_back(&item);
  } else {
    candidates.push_back(&affix);
  }
  for (const Value* candidate : candidates) {
    if (!candidate->IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(
          method, " first arg must be str or a tuple of str, not ", TypeName(*candidate)));
    }
    if (prefix ? absl::StartsWith(self.string(), candidate->string())
               : absl::EndsWith(self.string(), candidate->string())) {
      return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

absl::StatusOr<Value> StrStartsWith(Interpreter&, const Value& self, CallArgs args) {
  return AffixCommon("startswith", self, std::move(args), true);
}
absl::StatusOr<Value> StrEndsWith(Interpreter&, const Value& self, CallArgs args) {
  return AffixCommon("endswith", self, std::move(args), false);
}

absl::StatusOr<Value> NoArgs(absl::string_view method, CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(method, "() takes no arguments"));
  }
  return Value();
}

absl::StatusOr<Value> StrUpper(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("upper", args).status());
  return Value::StringLike(self, Upper(self.string()));
}
absl::StatusOr<Value> StrLower(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("lower", args).status());
  return Value::StringLike(self, Lower(self.string()));
}
absl::StatusOr<Value> StrTitle(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("title", args).status());
  return Value::StringLike(self, Title(self.string()));
}
absl::StatusOr<Value> StrCapitalize(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("capitalize", args).status());
  return Value::StringLike(self, Capitalize(self.string()));
}

absl::StatusOr<Value> StrPredicate(absl::string_view method, const Value& self, CallArgs& args,
                                   bool (*test)(char32_t)) {
  JINJA_RETURN_IF_ERROR(NoArgs(method, args).status());
  const std::u32string text = DecodeAll(self.string());
  if (text.empty()) return Value::Bool(false);
  for (char32_t c : text) {
    if (!test(c)) return Value::Bool(false);
  }
  return Value::Bool(true);
}

absl::StatusOr<Value> StrIsSpace(Interpreter&, const Value& self, CallArgs args) {
  return StrPredicate("isspace", self, args, IsPySpace);
}
absl::StatusOr<Value> StrIsDigit(Interpreter&, const Value& self, CallArgs args) {
  return StrPredicate("isdigit", self, args, [](char32_t c) { return c >= U'0' && c <= U'9'; });
}
absl::StatusOr<Value> StrIsAlpha(Interpreter&, const Value& self, CallArgs args) {
  // ASCII letters only: chat templates test identifiers, and Python's full Unicode alphabet
  // test would need the category tables.
  return StrPredicate("isalpha", self, args, [](char32_t c) {
    return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
  });
}
absl::StatusOr<Value> StrIsLower(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("islower", args).status());
  return Value::Bool(IsLower(self.string()));
}
absl::StatusOr<Value> StrIsUpper(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("isupper", args).status());
  return Value::Bool(IsUpper(self.string()));
}

absl::StatusOr<Value> StrReplace(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind("replace", std::move(args), {"old", "new", "count"}, 2));
  JINJA_ASSIGN_OR_RETURN(std::string old,
                         RequiredString(bound, 0, "replace() argument 1 must be str, not "));
  JINJA_ASSIGN_OR_RETURN(std::string replacement,
                         RequiredString(bound, 1, "replace() argument 2 must be str, not "));
  JINJA_ASSIGN_OR_RETURN(int64_t count, OptionalInt(bound, 2, -1));
  // A safe string escapes the plain replacement it is given, as markupsafe does.
  if (self.IsMarkup() && !bound.Get(1).IsMarkup()) replacement = HtmlEscape(replacement);
  // Bound the result before building it: every code point may gain a copy of `replacement`.
  const size_t worst = self.string().size() + (self.string().size() + 1) * replacement.size();
  if (old.size() < replacement.size()) {
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(worst));
  }
  std::string result = Replace(self.string(), old, replacement, count);
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(result.size()));
  return Value::StringLike(self, std::move(result));
}

absl::StatusOr<Value> FindCommon(absl::string_view method, const Value& self, CallArgs args,
                                 bool from_right) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind(method, std::move(args), {"sub"}, 1));
  JINJA_ASSIGN_OR_RETURN(std::string sub, RequiredString(bound, 0, "must be str, not "));
  const size_t found = from_right ? self.string().rfind(sub) : self.string().find(sub);
  if (found == std::string::npos) {
    if (method == "index" || method == "rindex") {
      return absl::InvalidArgumentError("substring not found");
    }
    return Value::Int(-1);
  }
  return Value::Int(
      static_cast<int64_t>(CodePointCount(absl::string_view(self.string()).substr(0, found))));
}

absl::StatusOr<Value> StrFind(Interpreter&, const Value& self, CallArgs args) {
  return FindCommon("find", self, std::move(args), false);
}
absl::StatusOr<Value> StrRFind(Interpreter&, const Value& self, CallArgs args) {
  return FindCommon("rfind", self, std::move(args), true);
}
absl::StatusOr<Value> StrIndex(Interpreter&, const Value& self, CallArgs args) {
  return FindCommon("index", self, std::move(args), false);
}
absl::StatusOr<Value> StrRIndex(Interpreter&, const Value& self, CallArgs args) {
  return FindCommon("rindex", self, std::move(args), true);
}

absl::StatusOr<Value> StrCount(Interpreter&, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind("count", std::move(args), {"sub"}, 1));
  JINJA_ASSIGN_OR_RETURN(std::string sub, RequiredString(bound, 0, "must be str, not "));
  if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(self.string())) + 1);
  int64_t count = 0;
  for (size_t at = self.string().find(sub); at != std::string::npos;
       at = self.string().find(sub, at + sub.size())) {
    ++count;
  }
  return Value::Int(count);
}

absl::StatusOr<Value> StrJoin(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind("join", std::move(args), {"iterable"}, 1));
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(bound.Get(0)));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(self.string());
    if (self.IsMarkup()) {
      // markupsafe escapes each item (and takes any value, as its string).
      out.append(items[i].IsMarkup()
                     ? items[i].string()
                     : HtmlEscape(Str(items[i], interpreter.limits().max_output_bytes)));
    } else if (items[i].IsString()) {
      out.append(items[i].string());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence item ", i, ": expected str instance, ", TypeName(items[i]), " found"));
    }
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  }
  return Value::StringLike(self, std::move(out));
}

absl::StatusOr<Value> StrRemoveAffix(absl::string_view method, const Value& self, CallArgs args,
                                     bool prefix) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind(method, std::move(args), {"affix"}, 1));
  JINJA_ASSIGN_OR_RETURN(
      std::string affix,
      RequiredString(bound, 0, absl::StrCat(method, "() argument must be str, not ")));
  absl::string_view text = self.string();
  if (prefix && absl::StartsWith(text, affix)) text.remove_prefix(affix.size());
  if (!prefix && absl::EndsWith(text, affix)) text.remove_suffix(affix.size());
  return Value::StringLike(self, std::string(text));
}

absl::StatusOr<Value> StrRemovePrefix(Interpreter&, const Value& self, CallArgs args) {
  return StrRemoveAffix("removeprefix", self, std::move(args), true);
}
absl::StatusOr<Value> StrRemoveSuffix(Interpreter&, const Value& self, CallArgs args) {
  return StrRemoveAffix("removesuffix", self, std::move(args), false);
}

// str.format with plain replacement fields: {}, {0}, {name}, optionally !s or !r. Format specs
// and attribute or index lookups in fields are refused.
absl::StatusOr<Value> StrFormat(Interpreter& interpreter, const Value& self, CallArgs args) {
  const std::string& format = self.string();
  std::string out;
  size_t next_auto = 0;
  bool manual = false;
  size_t i = 0;
  while (i < format.size()) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      return absl::InvalidArgumentError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    const size_t close = format.find('}', i + 1);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError("Single '{' encountered in format string");
    }
    std::string field = format.substr(i + 1, close - i - 1);
    i = close + 1;
    char conversion = 's';
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size() || (field[bang + 1] != 's' && field[bang + 1] != 'r')) {
        return absl::InvalidArgumentError("unsupported: str.format conversion other than !s, !r");
      }
      conversion = field[bang + 1];
      field.resize(bang);
    }
    if (field.find_first_of(":.[{") != std::string::npos) {
      return absl::InvalidArgumentError(
          "unsupported: str.format field with a format spec, attribute or index");
    }
    const Value* value = nullptr;
    if (field.empty()) {
      if (manual) {
        return absl::InvalidArgumentError(
            "cannot switch from manual field specification to automatic field numbering");
      }
      if (next_auto >= args.positional.size()) {
        return absl::InvalidArgumentError(absl::StrCat("Replacement index ", next_auto,
                                                       " out of range for positional args tuple"));
      }
      value = &args.positional[next_auto++];
    } else if (std::all_of(field.begin(), field.end(),
                           [](char d) { return d >= '0' && d <= '9'; })) {
      if (next_auto > 0) {
        return absl::InvalidArgumentError(
            "cannot switch from automatic field numbering to manual field specification");
      }
      manual = true;
      const size_t index = std::stoul(field.substr(0, 9));
      if (index >= args.positional.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Replacement index ", index, " out of range for positional args tuple"));
      }
      value = &args.positional[index];
    } else {
      for (const auto& [name, keyword] : args.keyword) {
        if (name == field) value = &keyword;
      }
      if (value == nullptr) return absl::InvalidArgumentError(absl::StrCat("'", field, "'"));
    }
    out.append(conversion == 'r' ? Repr(*value) : Str(*value));
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> DictItems(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("items", args).status());
  std::vector<Value> items;
  items.reserve(self.dict().items.size());
  for (const auto& [key, value] : self.dict().items) {
    items.push_back(Value::List({key, value}, SeqKind::kTuple));
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(items.size())));
  return Value::List(std::move(items), SeqKind::kItemsView);
}

absl::StatusOr<Value> DictKeys(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("keys", args).status());
  std::vector<Value> keys;
  for (const auto& [key, value] : self.dict().items) keys.push_back(key);
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(keys.size())));
  return Value::List(std::move(keys), SeqKind::kKeysView);
}

absl::StatusOr<Value> DictValues(Interpreter& interpreter, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("values", args).status());
  std::vector<Value> values;
  for (const auto& [key, value] : self.dict().items) values.push_back(value);
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(values.size())));
  return Value::List(std::move(values), SeqKind::kValuesView);
}

absl::StatusOr<Value> DictGet(Interpreter&, const Value& self, CallArgs args) {
  if (args.positional.empty() || args.positional.size() > 2 || !args.keyword.empty()) {
    return absl::InvalidArgumentError("get() takes 1 or 2 positional arguments");
  }
  const Value& key = args.positional[0];
  if (!IsHashable(key)) {
    return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(key), "'"));
  }
  if (const Value* value = self.dict().Find(key)) return *value;
  return args.positional.size() > 1 ? args.positional[1] : Value::None();
}

absl::StatusOr<Value> DictCopy(Interpreter&, const Value& self, CallArgs args) {
  JINJA_RETURN_IF_ERROR(NoArgs("copy", args).status());
  return Value::Dict(self.dict());
}

absl::StatusOr<Value> ListIndex(Interpreter&, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind("index", std::move(args), {"value"}, 1));
  const std::vector<Value>& items = self.list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (Equals(items[i], bound.Get(0))) return Value::Int(static_cast<int64_t>(i));
  }
  return absl::InvalidArgumentError(absl::StrCat(Repr(bound.Get(0)), " is not in list"));
}

absl::StatusOr<Value> ListCount(Interpreter&, const Value& self, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, BoundArgs::Bind("count", std::move(args), {"value"}, 1));
  int64_t count = 0;
  for (const Value& item : self.list().items) count += Equals(item, bound.Get(0)) ? 1 : 0;
  return Value::Int(count);
}

constexpr std::array<Method, 27> kStringMethods = {{
    {"strip", StrStrip},
    {"lstrip", StrLStrip},
    {"rstrip", StrRStrip},
    {"split", StrSplit},
    {"rsplit", StrRSplit},
    {"splitlines", StrSplitLines},
    {"startswith", StrStartsWith},
    {"endswith", StrEndsWith},
    {"upper", StrUpper},
    {"lower", StrLower},
    {"title", StrTitle},
    {"capitalize", StrCapitalize},
    {"replace", StrReplace},
    {"find", StrFind},
    {"rfind", StrRFind},
    {"index", StrIndex},
    {"rindex", StrRIndex},
    {"count", StrCount},
    {"join", StrJoin},
    {"isspace", StrIsSpace},
    {"isdigit", StrIsDigit},
    {"isalpha", StrIsAlpha},
    {"islower", StrIsLower},
    {"isupper", StrIsUpper},
    {"removeprefix", StrRemovePrefix},
    {"removesuffix", StrRemoveSuffix},
    {"format", StrFormat},
}};

constexpr std::array<Method, 5> kDictMethods = {{
    {"items", DictItems},
    {"keys", DictKeys},
    {"values", DictValues},
    {"get", DictGet},
    {"copy", DictCopy},
}};

constexpr std::array<Method, 2> kListMethods = {{
    {"index", ListIndex},
    {"count", ListCount},
}};

template <size_t N>
std::optional<Value> Find(const std::array<Method, N>& methods, const Value& receiver,
                          absl::string_view name) {
  for (const Method& method : methods) {
    if (method.name == name) {
      return Value::FromObject(
          std::make_shared<Builtin>(std::string(name), method.function, receiver));
    }
  }
  return std::nullopt;
}

Value Unsafe(absl::string_view name, absl::string_view type) {
  return Value::Undefined(
      absl::StrCat("access to attribute '", name, "' of '", type, "' object is unsafe."));
}

}  // namespace

std::optional<Value> LookupMethod(const Value& receiver, absl::string_view name) {
  switch (receiver.kind()) {
    case Value::Kind::kString:
      return Find(kStringMethods, receiver, name);
    case Value::Kind::kDict:
      if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" ||
          name == "update") {
        return Unsafe(name, "dict");
      }
      return Find(kDictMethods, receiver, name);
    case Value::Kind::kList:
      if (!receiver.IsSequence()) return std::nullopt;
      if (!receiver.IsTuple() &&
          (name == "append" || name == "clear" || name == "pop" || name == "reverse" ||
           name == "insert" || name == "sort" || name == "extend" || name == "remove")) {
        return Unsafe(name, "list");
      }
      return Find(kListMethods, receiver, name);
    default:
      return std::nullopt;
  }
}

}  // namespace trustformers::tokenizers::jinja
