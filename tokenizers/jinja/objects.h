// The host objects templates meet besides plain data: namespace() (the one mutable value, so a
// loop body can carry state out of its scope), macros, the `loop` variable of a for loop, and
// built-in functions.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/ast.h"
#include "tokenizers/jinja/interpreter.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

class Namespace : public Object {
 public:
  explicit Namespace(DictData attrs) : attrs_(std::move(attrs)) {}
  const char* TypeName() const override { return "Namespace"; }
  std::string Repr() const override;
  Value GetAttr(absl::string_view name, bool* found) const override;
  bool IsNamespace() const override { return true; }
  int64_t Weight() const override;

  void Set(std::string name, Value value) { attrs_.Set(std::move(name), std::move(value)); }

 private:
  DictData attrs_;
};

class Macro : public Callable {
 public:
  Macro(const Stmt* def, std::weak_ptr<Scope> closure) : def_(def), closure_(std::move(closure)) {}
  const char* TypeName() const override { return "Macro"; }
  std::string Repr() const override;
  Value GetAttr(absl::string_view name, bool* found) const override;
  absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const override;

 private:
  const Stmt* def_;
  std::weak_ptr<Scope> closure_;
};

// `loop` inside a for body; the loop advances it in place.
class Loop : public Object, public std::enable_shared_from_this<Loop> {
 public:
  explicit Loop(std::shared_ptr<const std::vector<Value>> items);
  const char* TypeName() const override { return "LoopContext"; }
  std::string Repr() const override;
  Value GetAttr(absl::string_view name, bool* found) const override;
  std::optional<int64_t> Length() const override { return static_cast<int64_t>(items_->size()); }
  bool HoldsNamespace() const override { return holds_namespace_; }

  void set_index(size_t index) { index_ = index; }
  size_t index() const { return index_; }
  size_t length() const { return items_->size(); }
  // loop.changed(*values): true when `values` differ from the previous call's.
  bool Changed(const Value& values);

 private:
  std::shared_ptr<const std::vector<Value>> items_;
  bool holds_namespace_ = false;
  size_t index_ = 0;
  bool has_last_changed_ = false;
  Value last_changed_;
};

// A global function (range, namespace, dict, raise_exception, strftime_now) or a method bound
// to its receiver.
class Builtin : public Callable {
 public:
  using Function = absl::StatusOr<Value> (*)(Interpreter&, const Value& self, CallArgs);
  Builtin(std::string name, Function function, Value self = Value())
      : name_(std::move(name)), function_(function), self_(std::move(self)) {}
  const char* TypeName() const override { return "builtin_function_or_method"; }
  std::string Repr() const override;
  absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const override;
  bool HoldsNamespace() const override { return self_.holds_namespace(); }

 private:
  std::string name_;
  Function function_;
  Value self_;
};

// The globals of transformers' environment, or Undefined.
Value LookupGlobal(absl::string_view name);

}  // namespace trustformers::tokenizers::jinja
