#include "tokenizers/jinja/filters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/json_dump.h"
#include "tokenizers/jinja/methods.h"
#include "tokenizers/jinja/objects.h"
#include "tokenizers/jinja/operators.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

absl::Status UndefinedError(const Value& value) {
  const std::string& message = value.undefined_message();
  return absl::InvalidArgumentError(message.empty() ? std::string("value is undefined") : message);
}

// jinja2's soft_str: str() of the value (Undefined is ""); generators print their address in
// Python, which nothing can match. Text over the output limit is refused.
absl::StatusOr<std::string> SoftStr(Interpreter& interpreter, const Value& value) {
  if (value.IsIterator()) {
    return absl::InvalidArgumentError("unsupported: a generator as a string; apply |list first");
  }
  std::string text = Str(value, interpreter.limits().max_output_bytes + 1);
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(text.size()));
  return text;
}

Value Iterator(std::vector<Value> items) {
  return Value::List(std::move(items), SeqKind::kIterator);
}

// make_attrgetter: "a.b.0" looks up a, then b, then item 0, with getitem's rules.
class AttrGetter {
 public:
  static absl::StatusOr<AttrGetter> Make(const Value& attribute) {
    AttrGetter getter;
    if (attribute.IsUndefined() || attribute.IsNone()) return getter;
    if (attribute.IsIntegral()) {
      getter.parts_.push_back(Value::Int(attribute.int_value()));
      return getter;
    }
    if (!attribute.IsString()) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute must be a string or an integer, not ", TypeName(attribute)));
    }
    for (absl::string_view part : absl::StrSplit(attribute.string(), '.')) {
      int64_t index = 0;
      const bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
      if (digits && absl::SimpleAtoi(part, &index)) {
        getter.parts_.push_back(Value::Int(index));
      } else {
        getter.parts_.push_back(Value::String(std::string(part)));
      }
    }
    return getter;
  }

  absl::StatusOr<Value> Get(Interpreter& interpreter, Value item,
                            const Value* fallback = nullptr) const {
    for (const Value& part : parts_) {
      JINJA_ASSIGN_OR_RETURN(item, interpreter.GetItem(item, part));
      if (fallback != nullptr && item.IsUndefined()) item = *fallback;
    }
    return item;
  }

 private:
  std::vector<Value> parts_;
};

// A sort compares every key about log2(n) times.
int64_t SortCost(const Value& keys, size_t n) {
  int64_t rounds = 1;
  while (n > 1) {
    n >>= 1;
    ++rounds;
  }
  return keys.weight() * rounds;
}

// ignore_case: sort keys lowercase strings unless case_sensitive.
Value SortKey(const Value& value, bool case_sensitive) {
  if (!case_sensitive && value.IsString()) return Value::String(Lower(value.string()));
  return value;
}

absl::StatusOr<BoundArgs> Bind(absl::string_view filter, CallArgs args,
                               std::initializer_list<absl::string_view> params,
                               size_t required = 0) {
  return BoundArgs::Bind(filter, std::move(args), params, required);
}

// Python's float(str): surrounding whitespace, '_' between digits, inf / nan spellings.
std::optional<double> ParsePyFloat(absl::string_view text) {
  std::string cleaned = Strip(text, std::nullopt, true, true);
  std::string lower = absl::AsciiStrToLower(cleaned);
  absl::string_view body = lower;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  std::string digits;
  for (size_t i = 0; i < cleaned.size(); ++i) {
    const char c = cleaned[i];
    if (c == '_') {
      const bool between = i > 0 && i + 1 < cleaned.size() &&
                           absl::ascii_isdigit(static_cast<unsigned char>(cleaned[i - 1])) &&
                           absl::ascii_isdigit(static_cast<unsigned char>(cleaned[i + 1]));
      if (!between) return std::nullopt;
      continue;
    }
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != 'E' &&
        c != '+' && c != '-') {
      return std::nullopt;
    }
    digits.push_back(c);
  }
  if (digits.empty()) return std::nullopt;
  const char* begin = digits.data();
  if (*begin == '+') ++begin;
  double value = 0;
  const auto [end, ec] = std::from_chars(begin, digits.data() + digits.size(), value);
  if (end != digits.data() + digits.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    return std::strtod(digits.c_str(), nullptr);
  }
  if (ec != std::errc()) return std::nullopt;
  return value;
}

// Python's int(str) in base 10: whitespace around, an optional sign, '_' between digits.
std::optional<int64_t> ParsePyInt(absl::string_view text) {
  std::string cleaned = Strip(text, std::nullopt, true, true);
  std::string digits;
  for (size_t i = 0; i < cleaned.size(); ++i) {
    const char c = cleaned[i];
    if (c == '_') {
      const bool between = i > 0 && i + 1 < cleaned.size() &&
                           absl::ascii_isdigit(static_cast<unsigned char>(cleaned[i - 1])) &&
                           absl::ascii_isdigit(static_cast<unsigned char>(cleaned[i + 1]));
      if (!between) return std::nullopt;
      continue;
    }
    digits.push_back(c);
  }
  int64_t value = 0;
  if (digits.empty() || !absl::SimpleAtoi(digits, &value)) return std::nullopt;
  if (digits[0] == '+' && digits.size() > 1 && digits[1] == '-') return std::nullopt;
  return value;
}

// jinja2's select, map, unique and items are generators: their errors surface only when
// something consumes them. An error computing one becomes an iterator that raises it later.
absl::StatusOr<Value> Lazily(absl::StatusOr<Value> result) {
  if (result.ok()) return result;
  return Value::FailedIterator(result.status());
}

// ---------------------------------------------------------------------------------------------

absl::StatusOr<Value> DoAbs(const Value& value) {
  if (value.IsIntegral()) {
    if (value.int_value() == std::numeric_limits<int64_t>::min()) {
      return absl::InvalidArgumentError("unsupported: integer beyond 64 bits");
    }
    return Value::Int(std::abs(value.int_value()));
  }
  if (value.IsFloat()) return Value::Float(std::fabs(value.float_value()));
  return absl::InvalidArgumentError(
      absl::StrCat("bad operand type for abs(): '", TypeName(value), "'"));
}

absl::StatusOr<Value> DoAttr(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("attr", std::move(args), {"name"}, 1));
  if (!bound.Get(0).IsString()) {
    return absl::InvalidArgumentError("attribute name must be a string");
  }
  const std::string& name = bound.Get(0).string();
  // An attribute only: no fallback to the dict item of that name.
  if (value.IsDict()) {
    if (std::optional<Value> method = LookupMethod(value, name)) return *std::move(method);
    return Value::Undefined(
        absl::StrCat("'", ObjectTypeRepr(value), "' has no attribute '", name, "'"));
  }
  return interpreter.GetAttr(value, name);
}

absl::StatusOr<Value> DoCenter(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("center", std::move(args), {"width"}));
  const Value width_value = bound.GetOr(0, Value::Int(80));
  if (!width_value.IsIntegral()) return absl::InvalidArgumentError("width must be an integer");
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  const int64_t length = static_cast<int64_t>(CodePointCount(text));
  const int64_t width = std::min<int64_t>(width_value.int_value(), 1 << 20);
  if (width <= length) return Value::StringLike(value, text);
  const int64_t pad = width - length;
  const int64_t left = pad / 2 + (pad & width & 1);
  return Value::StringLike(value, absl::StrCat(std::string(static_cast<size_t>(left), ' '), text,
                                               std::string(static_cast<size_t>(pad - left), ' ')));
}

absl::StatusOr<Value> DoDefault(const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("default", std::move(args), {"default_value", "boolean"}));
  const bool boolean = Truthy(bound.Get(1));
  if (value.IsUndefined() || (boolean && !Truthy(value))) {
    return bound.GetOr(0, Value::String(""));
  }
  return value;
}

// `items` in the stable order of `keys` (Python's sorted with key=, reverse=); the first failing
// comparison (keys of incomparable types) is the error.
absl::StatusOr<Value> StableSortByKeys(const std::vector<Value>& items,
                                       const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  absl::Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (!error.ok()) return false;
    absl::StatusOr<int> c = reverse ? Compare(keys[b], keys[a]) : Compare(keys[a], keys[b]);
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  JINJA_RETURN_IF_ERROR(error);
  std::vector<Value> sorted;
  for (size_t i : order) sorted.push_back(items[i]);
  return Value::List(std::move(sorted));
}

absl::StatusOr<Value> DoDictSort(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("dictsort", std::move(args), {"case_sensitive", "by", "reverse"}));
  const bool case_sensitive = Truthy(bound.Get(0));
  const Value by = bound.GetOr(1, Value::String("key"));
  const bool reverse = Truthy(bound.Get(2));
  size_t position = 0;
  if (by.IsString() && by.string() == "value") {
    position = 1;
  } else if (!by.IsString() || by.string() != "key") {
    return absl::InvalidArgumentError("You can only sort by either \"key\" or \"value\"");
  }
  if (value.IsUndefined()) return UndefinedError(value);
  if (!value.IsDict()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(value), "' object has no attribute 'items'"));
  }
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [key, item] : value.dict().items) {
    items.push_back(Value::List({key, item}, SeqKind::kTuple));
    keys.push_back(SortKey(position == 0 ? key : item, case_sensitive));
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(SortCost(value, items.size())));
  return StableSortByKeys(items, keys, reverse);
}

absl::StatusOr<Value> DoFirst(Interpreter& interpreter, const Value& value) {
  if (value.IsString()) {
    if (std::optional<Value> c = CharAt(value.string(), 0)) {
      return Value::StringLike(value, c->string());
    }
  } else if (value.IsList()) {
    if (!value.list().items.empty()) return value.list().items.front();
  } else if (value.IsDict()) {
    if (!value.dict().items.empty()) return value.dict().items.front().first;
  } else if (!value.IsUndefined()) {
    JINJA_RETURN_IF_ERROR(interpreter.Iterate(value).status());
  }
  return Value::Undefined("No first item, sequence was empty.");
}

absl::StatusOr<Value> DoLast(Interpreter&, const Value& value) {
  // next(reversed(value)): sequences and dicts only; Undefined reverses to nothing.
  if (value.IsString()) {
    if (std::optional<Value> c = CharAt(value.string(), -1)) {
      return Value::StringLike(value, c->string());
    }
  } else if (value.IsList() && !value.IsIterator()) {
    if (!value.list().items.empty()) return value.list().items.back();
  } else if (value.IsDict()) {
    if (!value.dict().items.empty()) return value.dict().items.back().first;
  } else if (!value.IsUndefined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(value), "' object is not reversible"));
  }
  return Value::Undefined("No last item, sequence was empty.");
}

absl::StatusOr<Value> DoFloat(const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("float", std::move(args), {"default"}));
  if (value.IsUndefined()) return UndefinedError(value);
  if (value.IsNumber()) return Value::Float(value.number_value());
  if (value.IsString()) {
    if (std::optional<double> parsed = ParsePyFloat(value.string())) return Value::Float(*parsed);
  }
  return bound.GetOr(0, Value::Float(0.0));
}

absl::StatusOr<Value> DoInt(const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("int", std::move(args), {"default", "base"}));
  const Value fallback = bound.GetOr(0, Value::Int(0));
  if (bound.Has(1) && !(bound.Get(1).IsIntegral() && bound.Get(1).int_value() == 10)) {
    return absl::InvalidArgumentError("unsupported: int filter with a base other than 10");
  }
  if (value.IsUndefined()) return UndefinedError(value);
  if (value.IsIntegral()) return Value::Int(value.int_value());
  std::optional<double> number;
  if (value.IsFloat()) {
    number = value.float_value();
  } else if (value.IsString()) {
    if (std::optional<int64_t> parsed = ParsePyInt(value.string())) return Value::Int(*parsed);
    number = ParsePyFloat(value.string());
  }
  if (!number.has_value() || !std::isfinite(*number)) return fallback;
  const double truncated = std::trunc(*number);
  if (std::fabs(truncated) >= 9.2e18) {
    return absl::InvalidArgumentError("unsupported: integer beyond 64 bits");
  }
  return Value::Int(static_cast<int64_t>(truncated));
}

absl::StatusOr<Value> DoIndent(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("indent", std::move(args), {"width", "first", "blank"}));
  std::string indention;
  const Value width = bound.GetOr(0, Value::Int(4));
  if (width.IsString()) {
    indention = width.string();
  } else if (width.IsIntegral()) {
    indention =
        std::string(static_cast<size_t>(std::clamp<int64_t>(width.int_value(), 0, 1024)), ' ');
  } else {
    return absl::InvalidArgumentError("indent width must be an integer or a string");
  }
  const bool first = Truthy(bound.Get(1));
  const bool blank = Truthy(bound.Get(2));
  // jinja2 appends "\n" to the value itself before splitting its lines.
  if (!value.IsString()) {
    if (value.IsUndefined()) return UndefinedError(value);
    if (value.IsList() && value.list().kind == SeqKind::kList) {
      return absl::InvalidArgumentError("'list' object has no attribute 'splitlines'");
    }
    if (value.IsTuple()) {
      return absl::InvalidArgumentError("can only concatenate tuple (not \"str\") to tuple");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported operand type(s) for +=: '", TypeName(value), "' and 'str'"));
  }
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  text.push_back('\n');
  std::vector<std::string> lines = SplitLines(text);
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) absl::StrAppend(&out, "\n", indention);
      out.append(lines[i]);
    }
  } else {
    out = lines.empty() ? std::string() : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out.push_back('\n');
      if (!lines[i].empty()) out.append(indention);
      out.append(lines[i]);
    }
  }
  if (first) out = absl::StrCat(indention, out);
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  return value.IsMarkup() ? Value::Markup(std::move(out)) : Value::String(std::move(out));
}

absl::StatusOr<Value> DoItemsNow(const Value& value) {
  if (value.IsUndefined()) return Iterator({});
  if (!value.IsDict()) {
    return absl::InvalidArgumentError("Can only get item pairs from a mapping.");
  }
  std::vector<Value> items;
  for (const auto& [key, item] : value.dict().items) {
    items.push_back(Value::List({key, item}, SeqKind::kTuple));
  }
  return Iterator(std::move(items));
}

absl::StatusOr<Value> DoJoin(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("join", std::move(args), {"d", "attribute"}));
  JINJA_ASSIGN_OR_RETURN(std::string separator,
                         SoftStr(interpreter, bound.GetOr(0, Value::String(""))));
  JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(1)));
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    JINJA_ASSIGN_OR_RETURN(Value item, getter.Get(interpreter, items[i]));
    JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, item));
    if (i > 0) out.append(separator);
    out.append(text);
    JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> DoMapNow(Interpreter& interpreter, const Value& value, CallArgs args) {
  std::vector<Value> out;
  if (!Truthy(value)) return Iterator({});
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  const bool by_attribute = args.positional.empty() &&
                            std::any_of(args.keyword.begin(), args.keyword.end(),
                                        [](const auto& kv) { return kv.first == "attribute"; });
  if (by_attribute) {
    JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("map", std::move(args), {"attribute", "default"}));
    JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(0)));
    // jinja2 treats default=None as no default.
    const bool has_default = bound.Has(1) && !bound.Get(1).IsNone();
    for (const Value& item : items) {
      JINJA_ASSIGN_OR_RETURN(Value mapped,
                             getter.Get(interpreter, item, has_default ? &bound.Get(1) : nullptr));
      out.push_back(std::move(mapped));
    }
    return Iterator(std::move(out));
  }
  if (args.positional.empty()) return absl::InvalidArgumentError("map requires a filter argument");
  if (!args.positional[0].IsString()) {
    return absl::InvalidArgumentError("map: the filter name must be a string");
  }
  const std::string filter = args.positional[0].string();
  args.positional.erase(args.positional.begin());
  for (const Value& item : items) {
    JINJA_ASSIGN_OR_RETURN(Value mapped, interpreter.ApplyFilter(filter, item, args));
    out.push_back(std::move(mapped));
  }
  return Iterator(std::move(out));
}

absl::StatusOr<Value> DoMinMax(Interpreter& interpreter, const Value& value, CallArgs args,
                               bool want_max) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind(want_max ? "max" : "min", std::move(args),
                                               {"case_sensitive", "attribute"}));
  const bool case_sensitive = Truthy(bound.Get(0));
  JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(1)));
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  JINJA_ASSIGN_OR_RETURN(Value best_key, getter.Get(interpreter, items[0]));
  best_key = SortKey(best_key, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    JINJA_ASSIGN_OR_RETURN(Value key, getter.Get(interpreter, items[i]));
    key = SortKey(key, case_sensitive);
    JINJA_ASSIGN_OR_RETURN(int c, Compare(key, best_key, want_max ? ">" : "<"));
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> DoSelectNow(Interpreter& interpreter, const Value& value, CallArgs args,
                                  bool keep_when, bool by_attribute) {
  if (!Truthy(value)) return Iterator({});
  AttrGetter getter;
  size_t offset = 0;
  if (by_attribute) {
    if (args.positional.empty()) {
      return absl::InvalidArgumentError("Missing parameter for attribute name");
    }
    JINJA_ASSIGN_OR_RETURN(getter, AttrGetter::Make(args.positional[0]));
    offset = 1;
  }
  std::optional<std::string> test;
  if (args.positional.size() > offset) {
    if (!args.positional[offset].IsString()) {
      return absl::InvalidArgumentError("the test name must be a string");
    }
    test = args.positional[offset].string();
  }
  CallArgs test_args;
  for (size_t i = offset + 1; i < args.positional.size(); ++i) {
    test_args.positional.push_back(args.positional[i]);
  }
  test_args.keyword = std::move(args.keyword);
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  std::vector<Value> out;
  for (Value& item : items) {
    JINJA_ASSIGN_OR_RETURN(Value subject, getter.Get(interpreter, item));
    bool passed = false;
    if (test.has_value()) {
      JINJA_ASSIGN_OR_RETURN(passed, interpreter.ApplyTest(*test, subject, test_args));
    } else {
      passed = Truthy(subject);
    }
    if (passed == keep_when) out.push_back(std::move(item));
  }
  return Iterator(std::move(out));
}

absl::StatusOr<Value> DoReplace(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("replace", std::move(args), {"old", "new", "count"}, 2));
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  JINJA_ASSIGN_OR_RETURN(std::string old, SoftStr(interpreter, bound.Get(0)));
  JINJA_ASSIGN_OR_RETURN(std::string replacement, SoftStr(interpreter, bound.Get(1)));
  int64_t count = -1;
  if (bound.Has(2) && !bound.Get(2).IsNone()) {
    if (!bound.Get(2).IsIntegral()) return absl::InvalidArgumentError("count must be an integer");
    count = bound.Get(2).int_value();
  }
  if (old.size() < replacement.size()) {
    JINJA_RETURN_IF_ERROR(
        interpreter.ChargeBytes(text.size() + (text.size() + 1) * replacement.size()));
  }
  std::string out = Replace(text, old, replacement, count);
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(out.size()));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> DoReverse(Interpreter& interpreter, const Value& value) {
  if (value.IsString()) {
    std::u32string text = DecodeAll(value.string());
    std::reverse(text.begin(), text.end());
    return Value::StringLike(value, EncodeAll(text));
  }
  // reversed() for sequences and dicts (an iterator); list(value) reversed for the rest.
  const bool reversible = (value.IsList() && !value.IsIterator()) || value.IsDict();
  absl::StatusOr<std::vector<Value>> items = interpreter.Iterate(value);
  if (!items.ok()) {
    if (value.IsIterator()) return items.status();
    return absl::InvalidArgumentError("argument must be iterable");
  }
  std::reverse(items->begin(), items->end());
  return reversible || value.IsUndefined() ? Iterator(*std::move(items))
                                           : Value::List(*std::move(items));
}

absl::StatusOr<Value> DoRound(const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("round", std::move(args), {"precision", "method"}));
  const Value precision_value = bound.GetOr(0, Value::Int(0));
  if (!precision_value.IsIntegral()) {
    return absl::InvalidArgumentError("'float' object cannot be interpreted as an integer");
  }
  const int64_t precision = precision_value.int_value();
  const Value method = bound.GetOr(1, Value::String("common"));
  if (!method.IsString() ||
      (method.string() != "common" && method.string() != "ceil" && method.string() != "floor")) {
    return absl::InvalidArgumentError("method must be common, ceil or floor");
  }
  if (!value.IsNumber()) {
    return absl::InvalidArgumentError(
        absl::StrCat("type ", TypeName(value), " doesn't define __round__ method"));
  }
  if (method.string() != "common") {
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double scaled = value.number_value() * scale;
    const double rounded = method.string() == "ceil" ? std::ceil(scaled) : std::floor(scaled);
    return Value::Float(rounded / scale);
  }
  if (value.IsIntegral()) {
    if (precision >= 0) return Value::Int(value.int_value());
    return absl::InvalidArgumentError("unsupported: rounding an integer to negative precision");
  }
  const double x = value.float_value();
  if (!std::isfinite(x)) return Value::Float(x);
  if (precision < 0 || precision > 300) {
    return absl::InvalidArgumentError("unsupported: round() precision outside 0..300");
  }
  // printf rounds the exact binary value, ties to even: Python's round() does the same.
  // Up to 309 integer digits, the point and `precision` decimals.
  std::vector<char> buffer(static_cast<size_t>(precision) + 320);
  std::snprintf(buffer.data(), buffer.size(), "%.*f", static_cast<int>(precision), x);
  return Value::Float(std::strtod(buffer.data(), nullptr));
}

absl::StatusOr<Value> DoSafe(Interpreter& interpreter, const Value& value) {
  if (value.IsMarkup()) return value;
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  return Value::Markup(std::move(text));
}

absl::StatusOr<Value> DoSort(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("sort", std::move(args), {"reverse", "case_sensitive", "attribute"}));
  const bool reverse = Truthy(bound.Get(0));
  const bool case_sensitive = Truthy(bound.Get(1));
  // make_multi_attrgetter: "a,b" sorts by a, then b.
  std::vector<AttrGetter> getters;
  if (bound.Get(2).IsString()) {
    for (absl::string_view part : absl::StrSplit(bound.Get(2).string(), ',')) {
      JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(Value::String(std::string(part))));
      getters.push_back(std::move(getter));
    }
  } else {
    JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(2)));
    getters.push_back(std::move(getter));
  }
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  std::vector<Value> keys;
  for (const Value& item : items) {
    std::vector<Value> parts;
    for (const AttrGetter& getter : getters) {
      JINJA_ASSIGN_OR_RETURN(Value key, getter.Get(interpreter, item));
      parts.push_back(SortKey(key, case_sensitive));
    }
    keys.push_back(Value::List(std::move(parts)));
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(SortCost(Value::List(keys), items.size())));
  return StableSortByKeys(items, keys, reverse);
}

absl::StatusOr<Value> DoSum(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("sum", std::move(args), {"attribute", "start"}));
  JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(0)));
  Value total = bound.GetOr(1, Value::Int(0));
  if (total.IsString()) {
    return absl::InvalidArgumentError("sum() can't sum strings [use ''.join(seq) instead]");
  }
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  for (const Value& item : items) {
    JINJA_ASSIGN_OR_RETURN(Value term, getter.Get(interpreter, item));
    JINJA_ASSIGN_OR_RETURN(total, BinaryOperation(interpreter, BinaryOp::kAdd, total, term));
  }
  return total;
}

absl::StatusOr<Value> DoToJson(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(
      BoundArgs bound,
      Bind("tojson", std::move(args), {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonDumpOptions options;
  options.ensure_ascii = Truthy(bound.Get(0));
  const Value& indent = bound.Get(1);
  if (indent.IsString()) {
    options.indent = indent.string();
  } else if (indent.IsIntegral()) {
    options.indent =
        std::string(static_cast<size_t>(std::clamp<int64_t>(indent.int_value(), 0, 1024)), ' ');
  } else if (!indent.IsUndefined() && !indent.IsNone()) {
    return absl::InvalidArgumentError(
        absl::StrCat("can't multiply sequence by non-int of type '", TypeName(indent), "'"));
  }
  const Value& separators = bound.Get(2);
  if (separators.IsUndefined() || separators.IsNone()) {
    options.item_separator = options.indent.has_value() ? "," : ", ";
    options.key_separator = ": ";
  } else {
    if (!separators.IsSequence() || separators.list().items.size() != 2 ||
        !separators.list().items[0].IsString() || !separators.list().items[1].IsString()) {
      return absl::InvalidArgumentError("tojson separators must be a pair of strings");
    }
    options.item_separator = separators.list().items[0].string();
    options.key_separator = separators.list().items[1].string();
  }
  options.sort_keys = Truthy(bound.Get(3));
  options.max_bytes = interpreter.limits().max_output_bytes;
  JINJA_ASSIGN_OR_RETURN(std::string json, JsonDumps(value, options));
  JINJA_RETURN_IF_ERROR(interpreter.ChargeBytes(json.size()));
  return Value::String(std::move(json));
}

absl::StatusOr<Value> DoTrim(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound, Bind("trim", std::move(args), {"chars"}));
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  std::optional<std::u32string> chars;
  if (bound.Has(0) && !bound.Get(0).IsNone()) {
    if (!bound.Get(0).IsString()) {
      return absl::InvalidArgumentError("strip arg must be None or str");
    }
    chars = DecodeAll(bound.Get(0).string());
  }
  return Value::StringLike(value, Strip(text, chars, true, true));
}

absl::StatusOr<Value> DoUniqueNow(Interpreter& interpreter, const Value& value, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         Bind("unique", std::move(args), {"case_sensitive", "attribute"}));
  const bool case_sensitive = Truthy(bound.Get(0));
  JINJA_ASSIGN_OR_RETURN(AttrGetter getter, AttrGetter::Make(bound.Get(1)));
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : items) {
    JINJA_ASSIGN_OR_RETURN(Value key, getter.Get(interpreter, item));
    key = SortKey(key, case_sensitive);
    if (key.IsList() || key.IsDict()) {
      return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(key), "'"));
    }
    JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(seen.size()) * key.weight()));
    const bool duplicate =
        std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); });
    if (!duplicate) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Iterator(std::move(out));
}

absl::StatusOr<Value> StringFilter(Interpreter& interpreter, const Value& value,
                                   std::string (*transform)(absl::string_view)) {
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  return Value::StringLike(value, transform(text));
}

absl::StatusOr<Value> DoSelect(Interpreter& interpreter, const Value& value, CallArgs args,
                               bool keep_when, bool by_attribute) {
  return Lazily(DoSelectNow(interpreter, value, std::move(args), keep_when, by_attribute));
}

absl::StatusOr<Value> DoMap(Interpreter& interpreter, const Value& value, CallArgs args) {
  return Lazily(DoMapNow(interpreter, value, std::move(args)));
}

absl::StatusOr<Value> DoUnique(Interpreter& interpreter, const Value& value, CallArgs args) {
  return Lazily(DoUniqueNow(interpreter, value, std::move(args)));
}

absl::StatusOr<Value> DoItems(const Value& value) { return Lazily(DoItemsNow(value)); }

absl::Status NoArguments(absl::string_view name, const CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("filter '", name, "' takes no arguments"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> DoLength(absl::string_view name, const Value& value, const CallArgs& args) {
  JINJA_RETURN_IF_ERROR(NoArguments(name, args));
  JINJA_ASSIGN_OR_RETURN(int64_t length, Length(value));
  return Value::Int(length);
}

absl::StatusOr<Value> DoEscape(Interpreter& interpreter, absl::string_view name, const Value& value,
                               const CallArgs& args, bool force) {
  JINJA_RETURN_IF_ERROR(NoArguments(name, args));
  if (value.IsMarkup() && !force) return value;
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  return Value::Markup(HtmlEscape(text));
}

absl::StatusOr<Value> DoList(Interpreter& interpreter, const Value& value) {
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, interpreter.Iterate(value));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> DoString(Interpreter& interpreter, const Value& value) {
  if (value.IsMarkup()) return value;
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  return Value::String(std::move(text));
}

absl::StatusOr<Value> DoWordCount(Interpreter& interpreter, const Value& value) {
  JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(interpreter, value));
  return Value::Int(static_cast<int64_t>(WordCount(text)));
}

}  // namespace

namespace {

using Filter = absl::StatusOr<Value> (*)(Interpreter&, const Value&, CallArgs);

// Filters without arguments are rejected when given some.
absl::StatusOr<Value> Plain(Interpreter& interpreter, absl::string_view name, const Value& value,
                            const CallArgs& args,
                            absl::StatusOr<Value> (*filter)(Interpreter&, const Value&)) {
  JINJA_RETURN_IF_ERROR(NoArguments(name, args));
  return filter(interpreter, value);
}

struct Entry {
  absl::string_view name;
  Filter filter;
};

// A table rather than a chain of ifs: each filter stays a function of its own, so a chain of
// filters in a template costs the stack one small frame per filter.
constexpr Entry kFilters[] = {
    {"abs",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "abs", v, a, [](Interpreter&, const Value& x) { return DoAbs(x); });
     }},
    {"attr", [](Interpreter& in, const Value& v, CallArgs a) { return DoAttr(in, v, std::move(a)); }},
    {"capitalize",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "capitalize", v, a, [](Interpreter& i, const Value& x) {
         return StringFilter(i, x, Capitalize);
       });
     }},
    {"center",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoCenter(in, v, std::move(a)); }},
    {"count", [](Interpreter&, const Value& v, CallArgs a) { return DoLength("count", v, a); }},
    {"d", [](Interpreter&, const Value& v, CallArgs a) { return DoDefault(v, std::move(a)); }},
    {"default", [](Interpreter&, const Value& v, CallArgs a) { return DoDefault(v, std::move(a)); }},
    {"dictsort",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoDictSort(in, v, std::move(a)); }},
    {"e", [](Interpreter& in, const Value& v, CallArgs a) { return DoEscape(in, "e", v, a, false); }},
    {"escape",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoEscape(in, "escape", v, a, false); }},
    {"first",
     [](Interpreter& in, const Value& v, CallArgs a) { return Plain(in, "first", v, a, DoFirst); }},
    {"float", [](Interpreter&, const Value& v, CallArgs a) { return DoFloat(v, std::move(a)); }},
    {"forceescape",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoEscape(in, "forceescape", v, a, true);
     }},
    {"indent",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoIndent(in, v, std::move(a)); }},
    {"int", [](Interpreter&, const Value& v, CallArgs a) { return DoInt(v, std::move(a)); }},
    {"items",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "items", v, a, [](Interpreter&, const Value& x) { return DoItems(x); });
     }},
    {"join", [](Interpreter& in, const Value& v, CallArgs a) { return DoJoin(in, v, std::move(a)); }},
    {"last",
     [](Interpreter& in, const Value& v, CallArgs a) { return Plain(in, "last", v, a, DoLast); }},
    {"length",
     [](Interpreter&, const Value& v, CallArgs a) { return DoLength("length", v, a); }},
    {"list",
     [](Interpreter& in, const Value& v, CallArgs a) { return Plain(in, "list", v, a, DoList); }},
    {"lower",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "lower", v, a,
                    [](Interpreter& i, const Value& x) { return StringFilter(i, x, Lower); });
     }},
    {"map", [](Interpreter& in, const Value& v, CallArgs a) { return DoMap(in, v, std::move(a)); }},
    {"max",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoMinMax(in, v, std::move(a), true); }},
    {"min",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoMinMax(in, v, std::move(a), false);
     }},
    {"reject",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoSelect(in, v, std::move(a), false, false);
     }},
    {"rejectattr",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoSelect(in, v, std::move(a), false, true);
     }},
    {"replace",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoReplace(in, v, std::move(a)); }},
    {"reverse",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "reverse", v, a, DoReverse);
     }},
    {"round", [](Interpreter&, const Value& v, CallArgs a) { return DoRound(v, std::move(a)); }},
    {"safe",
     [](Interpreter& in, const Value& v, CallArgs a) { return Plain(in, "safe", v, a, DoSafe); }},
    {"select",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoSelect(in, v, std::move(a), true, false);
     }},
    {"selectattr",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return DoSelect(in, v, std::move(a), true, true);
     }},
    {"sort", [](Interpreter& in, const Value& v, CallArgs a) { return DoSort(in, v, std::move(a)); }},
    {"string",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "string", v, a, DoString);
     }},
    {"sum", [](Interpreter& in, const Value& v, CallArgs a) { return DoSum(in, v, std::move(a)); }},
    {"title",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "title", v, a,
                    [](Interpreter& i, const Value& x) -> absl::StatusOr<Value> {
                      // jinja2 joins the words into a plain str.
                      JINJA_ASSIGN_OR_RETURN(std::string text, SoftStr(i, x));
                      return Value::String(TitleWords(text));
                    });
     }},
    {"tojson",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoToJson(in, v, std::move(a)); }},
    {"trim", [](Interpreter& in, const Value& v, CallArgs a) { return DoTrim(in, v, std::move(a)); }},
    {"unique",
     [](Interpreter& in, const Value& v, CallArgs a) { return DoUnique(in, v, std::move(a)); }},
    {"upper",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "upper", v, a,
                    [](Interpreter& i, const Value& x) { return StringFilter(i, x, Upper); });
     }},
    {"wordcount",
     [](Interpreter& in, const Value& v, CallArgs a) {
       return Plain(in, "wordcount", v, a, DoWordCount);
     }},
};

}  // namespace

absl::StatusOr<Value> CallFilter(Interpreter& interpreter, absl::string_view name,
                                 const Value& value, CallArgs args) {
  for (const Entry& entry : kFilters) {
    if (entry.name == name) return entry.filter(interpreter, value, std::move(args));
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported filter '", name, "'"));
}

}  // namespace trustformers::tokenizers::jinja
