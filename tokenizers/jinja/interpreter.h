// Renders a parsed template with jinja2's semantics under ImmutableSandboxedEnvironment: scoping
// (a for loop's body and a macro get scopes of their own; if does not), Undefined, Python
// operators and truthiness, the sandbox's attribute rules, and the globals transformers adds
// (raise_exception, strftime_now, namespace, dict).
//
// One Interpreter renders once, on one thread; the Template it reads is shared and immutable.
// Every step is charged against Limits, so a hostile template ends with INVALID_ARGUMENT instead
// of running away with time, memory or stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tokenizers/jinja/ast.h"
#include "tokenizers/jinja/call_args.h"
#include "tokenizers/jinja/limits.h"
#include "tokenizers/jinja/parser.h"
#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

class Interpreter;

// Objects a template can call: macros, globals, bound methods.
class Callable : public Object {
 public:
  bool IsCallable() const final { return true; }
  virtual absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const = 0;
};

// Variables of one scope; lookups continue in the parent.
struct Scope {
  absl::flat_hash_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
using ScopePtr = std::shared_ptr<Scope>;

class Interpreter {
 public:
  // `now` is what strftime_now formats (the local time when null).
  Interpreter(const Template& tmpl, const Limits& limits, const std::tm* now);

  // Renders with `context` as the template's variables.
  absl::StatusOr<std::string> Render(const Value& context);

  // For filters, tests and methods.
  absl::Status Charge(int64_t steps);
  // Charges for producing `bytes` bytes and refuses strings over the output limit.
  absl::Status ChargeBytes(size_t bytes);
  // jinja2's sandboxed getattr (obj.name) and getitem (obj[key]).
  absl::StatusOr<Value> GetAttr(const Value& object, absl::string_view name);
  absl::StatusOr<Value> GetItem(const Value& object, const Value& key);
  absl::StatusOr<Value> CallValue(const Value& callee, CallArgs args);
  absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& input, CallArgs args);
  absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& input, CallArgs args);
  // Python's iter(): a list's items, a dict's keys, a string's characters, nothing for
  // Undefined; a TypeError otherwise.
  absl::StatusOr<std::vector<Value>> Iterate(const Value& value);
  const std::tm& now() const { return now_; }
  const Limits& limits() const { return limits_; }

  // Runs a macro (or the body of a call block) defined by `def` with `closure` as its
  // enclosing scope.
  absl::StatusOr<Value> CallMacro(const Stmt& def, const std::weak_ptr<Scope>& closure,
                                  CallArgs args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  absl::StatusOr<Flow> ExecBody(const Body& body, const ScopePtr& scope, std::string* out);
  absl::StatusOr<Flow> Exec(const Stmt& stmt, const ScopePtr& scope, std::string* out);
  absl::StatusOr<Flow> ExecFor(const Stmt& stmt, const ScopePtr& scope, std::string* out);
  absl::Status ExecCallBlock(const Stmt& stmt, const ScopePtr& scope, std::string* out);
  absl::Status Assign(const Target& target, const Value& value, const ScopePtr& scope);
  absl::Status Emit(absl::string_view text, std::string* out);

  absl::StatusOr<Value> Eval(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalInner(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalSequence(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalDict(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalGetItem(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalCompare(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalConcat(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<CallArgs> EvalArgs(const Args& args, const ScopePtr& scope);
  // Applies a filter chain whose innermost input is `input` ({% filter %}, {% set %} blocks).
  absl::StatusOr<Value> ApplyFilterChain(const Expr& filter, Value input, const ScopePtr& scope);
  Value Lookup(absl::string_view name, const Scope* scope) const;

  // An error from below with this node's line:column in front, unless it already has one.
  absl::Status Locate(const absl::Status& status, uint32_t offset) const;

  const Template& template_;
  const Limits limits_;
  std::tm now_{};
  Value context_;
  ScopePtr root_;
  int64_t steps_ = 0;
  int eval_depth_ = 0;
  int call_depth_ = 0;
};

// INVALID_ARGUMENT carrying the message of raise_exception() exactly, marked so that no
// position is added to it on the way out.
absl::Status RaisedError(absl::string_view message);

}  // namespace trustformers::tokenizers::jinja
