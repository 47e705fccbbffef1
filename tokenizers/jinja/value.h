// The values a template computes with, modelled on the Python objects jinja2 sees: None, bool,
// int, float, str (optionally marked safe, like markupsafe.Markup), list, tuple, dict, jinja2's
// Undefined, and host objects (namespaces, macros, loop state, built-in functions).
//
// Containers are immutable once built and shared by pointer: the sandbox that chat templates run
// in forbids list.append and dict.update, so copying a value is cheap and no template can build
// a cycle through a list or dict. Namespaces are the one mutable object; the interpreter refuses
// to store a namespace inside one, which keeps every value a tree of bounded depth.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trustformers::tokenizers::jinja {

class Value;

// How a sequence prints and compares: a list, a tuple, a one-pass iterator (what jinja2's
// select, map, items... return: always true, no len(), no printing), or a view of a dict
// (dict.items(), keys(), values(): a length, no indexing).
enum class SeqKind : uint8_t { kList, kTuple, kIterator, kItemsView, kKeysView, kValuesView };

struct ListData {
  std::vector<Value> items;
  SeqKind kind = SeqKind::kList;
  // An iterator whose items failed to compute: jinja2's generators raise only when consumed,
  // so the error waits for that (printing or testing the iterator does not raise it).
  absl::Status deferred_error;
  int depth = 1;
  int64_t weight = 1;
  bool holds_namespace = false;
};

// A dict in insertion order (Python's dict order, which tojson keeps). Keys are any value Python
// can hash (str, numbers, None, tuples of those), equal as in Python: 1, 1.0 and True are one key.
struct DictData {
  std::vector<std::pair<Value, Value>> items;
  // Positions of str keys, and of the other keys by a canonical spelling.
  absl::flat_hash_map<std::string, size_t> index;
  absl::flat_hash_map<std::string, size_t> other_index;
  int depth = 1;
  int64_t weight = 1;
  bool holds_namespace = false;

  // The value under a str key.
  const Value* Find(absl::string_view key) const;
  // The value under any key; null when absent or unhashable.
  const Value* Find(const Value& key) const;
  // Adds `key`, or replaces its value in place (a Python dict keeps the first position).
  void Set(std::string key, Value value);
  // `key` must be hashable (see IsHashable).
  void Set(Value key, Value value);
};

// Host objects. Attribute reads go through GetAttr; the interpreter adds calls for callables.
class Object {
 public:
  virtual ~Object() = default;
  // The Python type name, for error messages ("Namespace", "Macro", ...).
  virtual const char* TypeName() const = 0;
  virtual std::string Repr() const = 0;
  // Sets *found and returns the attribute when the object has it.
  virtual Value GetAttr(absl::string_view name, bool* found) const;
  virtual bool IsCallable() const { return false; }
  virtual bool IsNamespace() const { return false; }
  // Whether a namespace is reachable from this object (see Value::holds_namespace).
  virtual bool HoldsNamespace() const { return IsNamespace(); }
  // See Value::weight().
  virtual int64_t Weight() const { return 1; }
  // len(), for objects that have one.
  virtual std::optional<int64_t> Length() const { return std::nullopt; }
};

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kObject,
  };

  // Undefined without a message.
  Value() = default;

  // `message` is the UndefinedError text any use other than printing, testing or iterating
  // raises ("'x' is undefined", "'dict object' has no attribute 'y'").
  static Value Undefined(std::string message);
  static Value None();
  static Value Bool(bool value);
  static Value Int(int64_t value);
  static Value Float(double value);
  static Value String(std::string text);
  // A string marked safe (markupsafe.Markup): concatenating a plain string to it escapes that
  // string as HTML, which some templates rely on through the `safe` filter.
  static Value Markup(std::string text);
  // A string of the same kind as `like`: safe strings stay safe through str methods.
  static Value StringLike(const Value& like, std::string text);
  static Value List(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  // An iterator that raises `error` when consumed.
  static Value FailedIterator(absl::Status error);
  static Value Dict(DictData data);
  static Value FromObject(std::shared_ptr<Object> object);

  Kind kind() const { return kind_; }
  bool IsUndefined() const { return kind_ == Kind::kUndefined; }
  bool IsNone() const { return kind_ == Kind::kNone; }
  bool IsBool() const { return kind_ == Kind::kBool; }
  bool IsInt() const { return kind_ == Kind::kInt; }
  bool IsFloat() const { return kind_ == Kind::kFloat; }
  // bool, int or float: Python's numbers.Number.
  bool IsNumber() const { return kind_ == Kind::kBool || IsInt() || IsFloat(); }
  // bool or int: what Python accepts as an integer (True is 1).
  bool IsIntegral() const { return kind_ == Kind::kBool || IsInt(); }
  bool IsString() const { return kind_ == Kind::kString; }
  bool IsList() const { return kind_ == Kind::kList; }
  bool IsDict() const { return kind_ == Kind::kDict; }
  bool IsObject() const { return kind_ == Kind::kObject; }
  bool IsIterator() const { return IsList() && list().kind == SeqKind::kIterator; }
  // A list or a tuple: indexable, sliceable, concatenable.
  bool IsSequence() const {
    return IsList() && (list().kind == SeqKind::kList || list().kind == SeqKind::kTuple);
  }
  bool IsTuple() const { return IsList() && list().kind == SeqKind::kTuple; }
  bool IsMarkup() const { return IsString() && markup_; }

  bool bool_value() const { return std::get<bool>(payload_); }
  // For bool and int.
  int64_t int_value() const;
  // For bool, int and float.
  double number_value() const;
  double float_value() const { return std::get<double>(payload_); }
  const std::string& string() const { return *std::get<StringPtr>(payload_); }
  const ListData& list() const { return *std::get<ListPtr>(payload_); }
  const DictData& dict() const { return *std::get<DictPtr>(payload_); }
  const std::shared_ptr<Object>& object() const { return std::get<ObjectPtr>(payload_); }
  const std::string& undefined_message() const;

  // Nesting depth: 0 for scalars, 1 + the deepest element for containers.
  int depth() const;
  // What visiting the whole value costs, in work units: 1 per scalar, container and element, and
  // 1 per 32 bytes of text. Operations that walk a value (==, in, printing, tojson, string
  // methods) are charged this much.
  int64_t weight() const;
  // Whether a namespace object is reachable from this value. Namespaces are the only mutable
  // values, so refusing to store such a value in a namespace keeps every value acyclic (and
  // reference counting sufficient).
  bool holds_namespace() const;
  // Same pointer (Python's `is` for containers and objects; equality for scalars).
  bool SameAs(const Value& other) const;

 private:
  using StringPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<const ListData>;
  using DictPtr = std::shared_ptr<const DictData>;
  using ObjectPtr = std::shared_ptr<Object>;

  Kind kind_ = Kind::kUndefined;
  bool markup_ = false;
  std::variant<std::monostate, bool, int64_t, double, StringPtr, ListPtr, DictPtr, ObjectPtr>
      payload_;
};

// Whether Python can use the value as a dict key.
bool IsHashable(const Value& value);

// Python truthiness (Undefined is false, iterators are true).
bool Truthy(const Value& value);
// Python's type name: "str", "int", "list", "tuple", "dict", "NoneType", "generator", ...
std::string TypeName(const Value& value);
// How jinja2 names an object in UndefinedError messages: "dict object", "None", ...
std::string ObjectTypeRepr(const Value& value);
// str(value): what `{{ value }}`, `~` and the string filter produce (Undefined prints "").
// Containers stop printing once the text passes `limit` bytes, so a caller that refuses results
// over its limit never builds much more than that.
std::string Str(const Value& value, size_t limit = std::numeric_limits<size_t>::max());
// repr(value), used for the elements of printed containers.
std::string Repr(const Value& value, size_t limit = std::numeric_limits<size_t>::max());
// Python ==.
bool Equals(const Value& a, const Value& b);
// Python ordering for <, >, sort, min, max: -1, 0 or 1, or a TypeError-like INVALID_ARGUMENT
// for types Python cannot order.
absl::StatusOr<int> Compare(const Value& a, const Value& b, absl::string_view op = "<");
// len(value) in code points for strings, or a TypeError for values without a length.
absl::StatusOr<int64_t> Length(const Value& value);

}  // namespace trustformers::tokenizers::jinja
