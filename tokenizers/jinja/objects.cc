#include "tokenizers/jinja/objects.h"

#include <array>
#include <cstdint>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

// Python's range() limited as jinja2's sandbox limits it.
constexpr int64_t kMaxRange = 100000;

absl::StatusOr<int64_t> AsIndex(const Value& value) {
  if (value.IsIntegral()) return value.int_value();
  if (value.IsUndefined() && !value.undefined_message().empty()) {
    return absl::InvalidArgumentError(value.undefined_message());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", TypeName(value), "' object cannot be interpreted as an integer"));
}

absl::StatusOr<Value> Range(Interpreter& interpreter, const Value&, CallArgs args) {
  if (!args.keyword.empty()) {
    return absl::InvalidArgumentError("range() takes no keyword arguments");
  }
  const size_t n = args.positional.size();
  if (n < 1 || n > 3) {
    return absl::InvalidArgumentError(absl::StrCat("range expected 1 to 3 arguments, got ", n));
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (n == 1) {
    JINJA_ASSIGN_OR_RETURN(stop, AsIndex(args.positional[0]));
  } else {
    JINJA_ASSIGN_OR_RETURN(start, AsIndex(args.positional[0]));
    JINJA_ASSIGN_OR_RETURN(stop, AsIndex(args.positional[1]));
    if (n == 3) {
      JINJA_ASSIGN_OR_RETURN(step, AsIndex(args.positional[2]));
    }
  }
  if (step == 0) return absl::InvalidArgumentError("range() arg 3 must not be zero");
  // 128-bit arithmetic: start, stop and step are arbitrary 64-bit values.
  const absl::int128 span = step > 0 ? absl::int128(stop) - start : absl::int128(start) - stop;
  const absl::int128 magnitude = step > 0 ? absl::int128(step) : -absl::int128(step);
  const absl::int128 count = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
  if (count > kMaxRange) {
    return absl::InvalidArgumentError(
        "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) {
    items.push_back(Value::Int(static_cast<int64_t>(absl::int128(start) + absl::int128(k) * step)));
  }
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(items.size())));
  return Value::List(std::move(items));
}

// dict(*args, **kwargs) as Python builds it; every key must be a string here.
absl::StatusOr<DictData> BuildDict(absl::string_view function, Interpreter& interpreter,
                                   CallArgs args) {
  if (args.positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(function, " expected at most 1 argument, got ", args.positional.size()));
  }
  DictData dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.IsDict()) {
      dict = source.dict();
    } else {
      JINJA_ASSIGN_OR_RETURN(std::vector<Value> pairs, interpreter.Iterate(source));
      for (const Value& pair : pairs) {
        JINJA_ASSIGN_OR_RETURN(std::vector<Value> kv, interpreter.Iterate(pair));
        if (kv.size() != 2) {
          return absl::InvalidArgumentError(absl::StrCat(
              "dictionary update sequence element has length ", kv.size(), "; 2 is required"));
        }
        if (!IsHashable(kv[0])) {
          return absl::InvalidArgumentError(
              absl::StrCat("unhashable type: '", TypeName(kv[0]), "'"));
        }
        dict.Set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [name, value] : args.keyword) dict.Set(name, std::move(value));
  JINJA_RETURN_IF_ERROR(interpreter.Charge(static_cast<int64_t>(dict.items.size())));
  return dict;
}

absl::StatusOr<Value> MakeNamespace(Interpreter& interpreter, const Value&, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(DictData attrs, BuildDict("namespace", interpreter, std::move(args)));
  for (const auto& [name, value] : attrs.items) {
    // transformers' namespace refuses private names (they could reach Python internals).
    if (name.IsString() && absl::StartsWith(name.string(), "_")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Chat templates cannot store underscore-prefixed attributes on a namespace, but got ",
          Repr(name), ". Please rename the attribute."));
    }
    if (value.holds_namespace()) {
      return absl::InvalidArgumentError("unsupported: a namespace stored inside a namespace");
    }
  }
  return Value::FromObject(std::make_shared<Namespace>(std::move(attrs)));
}

absl::StatusOr<Value> MakeDict(Interpreter& interpreter, const Value&, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(DictData dict, BuildDict("dict", interpreter, std::move(args)));
  return Value::Dict(std::move(dict));
}

absl::StatusOr<Value> RaiseException(Interpreter&, const Value&, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind("raise_exception", std::move(args), {"message"}, 1));
  return RaisedError(Str(bound.Get(0)));
}

absl::StatusOr<Value> StrftimeNow(Interpreter& interpreter, const Value&, CallArgs args) {
  JINJA_ASSIGN_OR_RETURN(BoundArgs bound,
                         BoundArgs::Bind("strftime_now", std::move(args), {"format"}, 1));
  if (!bound.Get(0).IsString()) {
    return absl::InvalidArgumentError("strftime() argument 1 must be str");
  }
  const std::string& format = bound.Get(0).string();
  if (format.empty()) return Value::String("");
  std::vector<char> buffer(format.size() * 4 + 64);
  const std::tm now = interpreter.now();
  while (true) {
    const size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &now);
    if (written > 0) return Value::String(std::string(buffer.data(), written));
    // strftime reports 0 both for "too small" and for an empty result.
    if (buffer.size() > (size_t{1} << 16)) return Value::String("");
    buffer.resize(buffer.size() * 4);
  }
}

absl::StatusOr<Value> LoopCycle(Interpreter&, const Value& self, CallArgs args) {
  if (args.positional.empty()) return absl::InvalidArgumentError("no items for cycling given");
  const auto* loop = static_cast<const Loop*>(self.object().get());
  return args.positional[loop->index() % args.positional.size()];
}

absl::StatusOr<Value> LoopChanged(Interpreter& interpreter, const Value& self, CallArgs args) {
  auto* loop = static_cast<Loop*>(self.object().get());
  Value values = Value::List(std::move(args.positional));
  JINJA_RETURN_IF_ERROR(interpreter.Charge(values.weight()));
  if (values.holds_namespace()) {
    // The loop keeps the values, and the loop may itself sit in that namespace.
    return absl::InvalidArgumentError("unsupported: loop.changed() with a namespace");
  }
  return Value::Bool(loop->Changed(values));
}

}  // namespace

int64_t Namespace::Weight() const {
  int64_t weight = 1;
  for (const auto& [key, value] : attrs_.items) weight += key.weight() + value.weight();
  return weight;
}

std::string Namespace::Repr() const {
  return absl::StrCat("<Namespace ", jinja::Repr(Value::Dict(attrs_)), ">");
}

Value Namespace::GetAttr(absl::string_view name, bool* found) const {
  const Value* value = attrs_.Find(name);
  *found = value != nullptr;
  return value != nullptr ? *value : Value();
}

std::string Macro::Repr() const { return absl::StrCat("<Macro '", def_->name, "'>"); }

Value Macro::GetAttr(absl::string_view name, bool* found) const {
  *found = true;
  if (name == "name") return Value::String(def_->name);
  if (name == "arguments") {
    std::vector<Value> params;
    for (const std::string& param : def_->params) params.push_back(Value::String(param));
    return Value::List(std::move(params), SeqKind::kTuple);
  }
  if (name == "catch_kwargs") return Value::Bool(def_->uses_kwargs);
  if (name == "catch_varargs") return Value::Bool(def_->uses_varargs);
  if (name == "caller") return Value::Bool(def_->uses_caller);
  *found = false;
  return Value();
}

absl::StatusOr<Value> Macro::Call(Interpreter& interpreter, CallArgs args) const {
  return interpreter.CallMacro(*def_, closure_, std::move(args));
}

Loop::Loop(std::shared_ptr<const std::vector<Value>> items) : items_(std::move(items)) {
  for (const Value& item : *items_) holds_namespace_ = holds_namespace_ || item.holds_namespace();
}

std::string Loop::Repr() const {
  return absl::StrCat("<LoopContext ", index_ + 1, "/", items_->size(), ">");
}

Value Loop::GetAttr(absl::string_view name, bool* found) const {
  *found = true;
  const int64_t index0 = static_cast<int64_t>(index_);
  const int64_t length = static_cast<int64_t>(items_->size());
  if (name == "index") return Value::Int(index0 + 1);
  if (name == "index0") return Value::Int(index0);
  if (name == "revindex") return Value::Int(length - index0);
  if (name == "revindex0") return Value::Int(length - index0 - 1);
  if (name == "first") return Value::Bool(index0 == 0);
  if (name == "last") return Value::Bool(index0 + 1 == length);
  if (name == "length") return Value::Int(length);
  if (name == "depth") return Value::Int(1);
  if (name == "depth0") return Value::Int(0);
  if (name == "previtem") {
    return index_ > 0 ? (*items_)[index_ - 1] : Value::Undefined("there is no previous item");
  }
  if (name == "nextitem") {
    return index_ + 1 < items_->size() ? (*items_)[index_ + 1]
                                       : Value::Undefined("there is no next item");
  }
  if (name == "cycle" || name == "changed") {
    const Value self = Value::FromObject(std::const_pointer_cast<Loop>(shared_from_this()));
    return Value::FromObject(std::make_shared<Builtin>(
        std::string(name), name == "cycle" ? LoopCycle : LoopChanged, self));
  }
  *found = false;
  return Value();
}

bool Loop::Changed(const Value& values) {
  if (has_last_changed_ && Equals(values, last_changed_)) return false;
  has_last_changed_ = true;
  last_changed_ = values;
  return true;
}

std::string Builtin::Repr() const {
  if (self_.IsUndefined()) return absl::StrCat("<built-in function ", name_, ">");
  return absl::StrCat("<built-in method ", name_, " of ", jinja::TypeName(self_), " object>");
}

absl::StatusOr<Value> Builtin::Call(Interpreter& interpreter, CallArgs args) const {
  // Methods walk their receiver (all but dict.get, which hashes one key).
  if (!self_.IsUndefined()) {
    JINJA_RETURN_IF_ERROR(interpreter.Charge(
        name_ == "get" ? 1 + (args.positional.empty() ? 0 : args.positional[0].weight())
                       : self_.weight()));
  }
  return function_(interpreter, self_, std::move(args));
}

Value LookupGlobal(absl::string_view name) {
  struct Global {
    absl::string_view name;
    Builtin::Function function;
  };
  static constexpr std::array<Global, 5> kGlobals = {{
      {"range", Range},
      {"namespace", MakeNamespace},
      {"dict", MakeDict},
      {"raise_exception", RaiseException},
      {"strftime_now", StrftimeNow},
  }};
  for (const Global& global : kGlobals) {
    if (global.name == name) {
      // Stateless and immutable, so one instance serves every render on every thread.
      static const auto* const kObjects = [] {
        auto* objects = new std::vector<Value>();
        for (const Global& g : kGlobals) {
          objects->push_back(
              Value::FromObject(std::make_shared<Builtin>(std::string(g.name), g.function)));
        }
        return objects;
      }();
      return (*kObjects)[static_cast<size_t>(&global - kGlobals.data())];
    }
  }
  return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
}

}  // namespace trustformers::tokenizers::jinja
