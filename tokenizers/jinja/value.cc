#include "tokenizers/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/py_text.h"

namespace trustformers::tokenizers::jinja {
namespace {

const std::string& EmptyString() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

int Sign(double difference) { return difference < 0 ? -1 : (difference > 0 ? 1 : 0); }

// The identity of a dict key: equal keys in Python's sense map to equal strings.
std::optional<std::string> HashKey(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return absl::StrCat("s", key.string().size(), ":", key.string());
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return absl::StrCat("n", key.int_value());
    case Value::Kind::kFloat: {
      const double f = key.float_value();
      if (std::isfinite(f) && f == std::floor(f) && std::fabs(f) < 9.2e18) {
        return absl::StrCat("n", static_cast<int64_t>(f));
      }
      return absl::StrCat("n", FloatRepr(f));
    }
    case Value::Kind::kNone:
      return std::string("N");
    case Value::Kind::kUndefined:
      return std::string("U");
    case Value::Kind::kList: {
      if (!key.IsTuple()) return std::nullopt;
      std::string out = "t(";
      for (const Value& item : key.list().items) {
        std::optional<std::string> part = HashKey(item);
        if (!part.has_value()) return std::nullopt;
        absl::StrAppend(&out, part->size(), ":", *part);
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

const Value* DictData::Find(absl::string_view key) const {
  const auto it = index.find(key);
  return it == index.end() ? nullptr : &items[it->second].second;
}

const Value* DictData::Find(const Value& key) const {
  if (key.IsString()) return Find(key.string());
  std::optional<std::string> hash = HashKey(key);
  if (!hash.has_value()) return nullptr;
  const auto it = other_index.find(*hash);
  return it == other_index.end() ? nullptr : &items[it->second].second;
}

void DictData::Set(std::string key, Value value) {
  const auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(value);
    return;
  }
  index.emplace(key, items.size());
  items.emplace_back(Value::String(std::move(key)), std::move(value));
}

void DictData::Set(Value key, Value value) {
  if (key.IsString()) {
    Set(key.string(), std::move(value));
    return;
  }
  std::optional<std::string> hash = HashKey(key);
  if (!hash.has_value()) return;
  const auto it = other_index.find(*hash);
  if (it != other_index.end()) {
    items[it->second].second = std::move(value);
    return;
  }
  other_index.emplace(*std::move(hash), items.size());
  items.emplace_back(std::move(key), std::move(value));
}

bool IsHashable(const Value& value) { return HashKey(value).has_value(); }

Value Object::GetAttr(absl::string_view, bool* found) const {
  *found = false;
  return Value();
}

Value Value::Undefined(std::string message) {
  Value value;
  if (!message.empty()) value.payload_ = std::make_shared<const std::string>(std::move(message));
  return value;
}

Value Value::None() {
  Value value;
  value.kind_ = Kind::kNone;
  return value;
}

Value Value::Bool(bool b) {
  Value value;
  value.kind_ = Kind::kBool;
  value.payload_ = b;
  return value;
}

Value Value::Int(int64_t i) {
  Value value;
  value.kind_ = Kind::kInt;
  value.payload_ = i;
  return value;
}

Value Value::Float(double f) {
  Value value;
  value.kind_ = Kind::kFloat;
  value.payload_ = f;
  return value;
}

Value Value::String(std::string text) {
  Value value;
  value.kind_ = Kind::kString;
  value.payload_ = std::make_shared<const std::string>(std::move(text));
  return value;
}

Value Value::Markup(std::string text) {
  Value value = String(std::move(text));
  value.markup_ = true;
  return value;
}

Value Value::StringLike(const Value& like, std::string text) {
  return like.IsMarkup() ? Markup(std::move(text)) : String(std::move(text));
}

Value Value::List(std::vector<Value> items, SeqKind kind) {
  auto data = std::make_shared<ListData>();
  data->kind = kind;
  int depth = 0;
  int64_t weight = 1;
  bool holds_namespace = false;
  for (const Value& item : items) {
    depth = std::max(depth, item.depth());
    weight += item.weight();
    holds_namespace = holds_namespace || item.holds_namespace();
  }
  data->items = std::move(items);
  data->depth = depth + 1;
  data->weight = weight;
  data->holds_namespace = holds_namespace;
  Value value;
  value.kind_ = Kind::kList;
  value.payload_ = ListPtr(std::move(data));
  return value;
}

Value Value::FailedIterator(absl::Status error) {
  auto data = std::make_shared<ListData>();
  data->kind = SeqKind::kIterator;
  data->deferred_error = std::move(error);
  Value value;
  value.kind_ = Kind::kList;
  value.payload_ = ListPtr(std::move(data));
  return value;
}

Value Value::Dict(DictData data) {
  int depth = 0;
  int64_t weight = 1;
  bool holds_namespace = false;
  for (const auto& [key, item] : data.items) {
    depth = std::max({depth, key.depth(), item.depth()});
    weight += key.weight() + item.weight();
    holds_namespace = holds_namespace || item.holds_namespace();
  }
  data.depth = depth + 1;
  data.weight = weight;
  data.holds_namespace = holds_namespace;
  Value value;
  value.kind_ = Kind::kDict;
  value.payload_ = std::make_shared<const DictData>(std::move(data));
  return value;
}

Value Value::FromObject(std::shared_ptr<Object> object) {
  Value value;
  value.kind_ = Kind::kObject;
  value.payload_ = std::move(object);
  return value;
}

int64_t Value::int_value() const {
  if (kind_ == Kind::kBool) return bool_value() ? 1 : 0;
  return std::get<int64_t>(payload_);
}

double Value::number_value() const {
  if (kind_ == Kind::kFloat) return float_value();
  return static_cast<double>(int_value());
}

const std::string& Value::undefined_message() const {
  if (const auto* text = std::get_if<StringPtr>(&payload_)) return **text;
  return EmptyString();
}

int64_t Value::weight() const {
  if (IsString()) return 1 + static_cast<int64_t>(string().size() / 32);
  if (IsList()) return list().weight;
  if (IsDict()) return dict().weight;
  if (IsObject()) return object()->Weight();
  return 1;
}

int Value::depth() const {
  if (IsList()) return list().depth;
  if (IsDict()) return dict().depth;
  return 0;
}

bool Value::holds_namespace() const {
  if (IsList()) return list().holds_namespace;
  if (IsDict()) return dict().holds_namespace;
  return IsObject() && object()->HoldsNamespace();
}

bool Value::SameAs(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return bool_value() == other.bool_value();
    case Kind::kInt:
      return int_value() == other.int_value();
    case Kind::kFloat:
      return float_value() == other.float_value();
    case Kind::kString:
      return std::get<StringPtr>(payload_) == std::get<StringPtr>(other.payload_);
    case Kind::kList:
      return std::get<ListPtr>(payload_) == std::get<ListPtr>(other.payload_);
    case Kind::kDict:
      return std::get<DictPtr>(payload_) == std::get<DictPtr>(other.payload_);
    case Kind::kObject:
      return object() == other.object();
  }
  return false;
}

bool Truthy(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return value.bool_value();
    case Value::Kind::kInt:
      return value.int_value() != 0;
    case Value::Kind::kFloat:
      return value.float_value() != 0.0;
    case Value::Kind::kString:
      return !value.string().empty();
    case Value::Kind::kList:
      return value.IsIterator() || !value.list().items.empty();
    case Value::Kind::kDict:
      return !value.dict().items.empty();
    case Value::Kind::kObject:
      return true;
  }
  return false;
}

std::string TypeName(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return value.IsMarkup() ? "Markup" : "str";
    case Value::Kind::kList:
      switch (value.list().kind) {
        case SeqKind::kList:
          return "list";
        case SeqKind::kTuple:
          return "tuple";
        case SeqKind::kIterator:
          return "generator";
        case SeqKind::kItemsView:
          return "dict_items";
        case SeqKind::kKeysView:
          return "dict_keys";
        case SeqKind::kValuesView:
          return "dict_values";
      }
      return "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kObject:
      return value.object()->TypeName();
  }
  return "object";
}

std::string ObjectTypeRepr(const Value& value) {
  if (value.IsNone()) return "None";
  return absl::StrCat(TypeName(value), " object");
}

namespace {

// Appends repr(value), giving up once `out` is longer than `limit`.
void AppendRepr(const Value& value, size_t limit, std::string* out) {
  if (out->size() > limit) return;
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      out->append("Undefined");
      return;
    case Value::Kind::kNone:
      out->append("None");
      return;
    case Value::Kind::kBool:
      out->append(value.bool_value() ? "True" : "False");
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, value.int_value());
      return;
    case Value::Kind::kFloat:
      out->append(FloatRepr(value.float_value()));
      return;
    case Value::Kind::kString:
      if (value.IsMarkup()) {
        absl::StrAppend(out, "Markup(", StrRepr(value.string()), ")");
      } else {
        out->append(StrRepr(value.string()));
      }
      return;
    case Value::Kind::kList: {
      const ListData& list = value.list();
      if (list.kind == SeqKind::kIterator) {
        out->append("<generator object>");
        return;
      }
      const bool view = !value.IsSequence();
      if (view) absl::StrAppend(out, TypeName(value), "(");
      out->append(list.kind == SeqKind::kTuple ? "(" : "[");
      for (size_t i = 0; i < list.items.size() && out->size() <= limit; ++i) {
        if (i > 0) out->append(", ");
        AppendRepr(list.items[i], limit, out);
      }
      if (list.kind == SeqKind::kTuple) {
        out->append(list.items.size() == 1 ? ",)" : ")");
      } else {
        out->append("]");
      }
      if (view) out->append(")");
      return;
    }
    case Value::Kind::kDict: {
      out->append("{");
      bool first = true;
      for (const auto& [key, item] : value.dict().items) {
        if (out->size() > limit) break;
        if (!first) out->append(", ");
        first = false;
        AppendRepr(key, limit, out);
        out->append(": ");
        AppendRepr(item, limit, out);
      }
      out->append("}");
      return;
    }
    case Value::Kind::kObject:
      out->append(value.object()->Repr());
      return;
  }
}

}  // namespace

std::string Str(const Value& value, size_t limit) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kString:
      return value.string();
    default:
      return Repr(value, limit);
  }
}

std::string Repr(const Value& value, size_t limit) {
  std::string out;
  AppendRepr(value, limit, &out);
  return out;
}

bool Equals(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsIntegral() && b.IsIntegral()) return a.int_value() == b.int_value();
    return a.number_value() == b.number_value();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.string() == b.string();
    case Value::Kind::kList: {
      const ListData& x = a.list();
      const ListData& y = b.list();
      if (x.kind == SeqKind::kIterator || y.kind == SeqKind::kIterator) return a.SameAs(b);
      if (x.kind != y.kind || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!Equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const DictData& x = a.dict();
      const DictData& y = b.dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [key, item] : x.items) {
        const Value* other = y.Find(key);
        if (other == nullptr || !Equals(item, *other)) return false;
      }
      return true;
    }
    case Value::Kind::kObject:
      return a.SameAs(b);
    default:
      return false;
  }
}

absl::StatusOr<int> Compare(const Value& a, const Value& b, absl::string_view op) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsIntegral() && b.IsIntegral()) {
      return a.int_value() < b.int_value() ? -1 : (a.int_value() > b.int_value() ? 1 : 0);
    }
    return Sign(a.number_value() - b.number_value());
  }
  if (a.IsString() && b.IsString()) {
    // Byte order of UTF-8 is code point order, which is how Python orders str.
    const int c = a.string().compare(b.string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.IsSequence() && b.IsSequence() && a.list().kind == b.list().kind) {
    const std::vector<Value>& x = a.list().items;
    const std::vector<Value>& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!Equals(x[i], y[i])) return Compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.IsUndefined() || b.IsUndefined()) {
    const Value& undefined = a.IsUndefined() ? a : b;
    return absl::InvalidArgumentError(undefined.undefined_message().empty()
                                          ? std::string("value is undefined")
                                          : undefined.undefined_message());
  }
  return absl::InvalidArgumentError(absl::StrCat("'", op, "' not supported between instances of '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

absl::StatusOr<int64_t> Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(CodePointCount(value.string()));
    case Value::Kind::kList:
      if (value.IsIterator()) break;
      return static_cast<int64_t>(value.list().items.size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(value.dict().items.size());
    case Value::Kind::kObject:
      if (std::optional<int64_t> length = value.object()->Length()) return *length;
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("object of type '", TypeName(value), "' has no len()"));
}

}  // namespace trustformers::tokenizers::jinja
