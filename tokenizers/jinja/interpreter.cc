#include "tokenizers/jinja/interpreter.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/builtins.h"
#include "tokenizers/jinja/filters.h"
#include "tokenizers/jinja/lexer.h"
#include "tokenizers/jinja/methods.h"
#include "tokenizers/jinja/objects.h"
#include "tokenizers/jinja/operators.h"
#include "tokenizers/jinja/predicates.h"
#include "tokenizers/jinja/py_text.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

// Status payloads: an error raised by the template itself, and one that already names the
// template position where it happened.
constexpr absl::string_view kRaisedPayload = "trustformers.jinja/raised";
constexpr absl::string_view kLocatedPayload = "trustformers.jinja/located";

// Counts one level of nesting for as long as it lives.
class DepthGuard {
 public:
  explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
  ~DepthGuard() { --*depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int* depth_;
};

absl::Status UndefinedError(const Value& value) {
  const std::string& message = value.undefined_message();
  return absl::InvalidArgumentError(message.empty() ? std::string("value is undefined") : message);
}

// Work a filter does before its own per-item charges: string filters read the whole text;
// the ones that walk a list charge per item themselves (through Iterate), others are constant.
int64_t FilterCost(absl::string_view name, const Value& input) {
  if (input.IsString()) return input.weight();
  static constexpr absl::string_view kCheap[] = {
      "attr",    "count",  "d",          "default", "dictsort", "first", "items",  "join",
      "last",    "length", "list",       "map",     "max",      "min",   "reject", "rejectattr",
      "reverse", "select", "selectattr", "sort",    "sum",      "unique"};
  for (absl::string_view cheap : kCheap) {
    if (name == cheap) return 1;
  }
  return input.weight();
}

// Type tests are constant; comparisons walk the smaller operand, `in` the container.
int64_t TestCost(absl::string_view name, const Value& input, const CallArgs& args) {
  if (args.positional.empty()) {
    return name == "lower" || name == "upper" ? input.weight() : 1;
  }
  const Value& other = args.positional[0];
  if (name == "in") return other.weight();
  return std::min(input.weight(), other.weight());
}

ScopePtr ChildScope(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

}  // namespace

absl::Status RaisedError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kRaisedPayload, absl::Cord("1"));
  return status;
}

Interpreter::Interpreter(const Template& tmpl, const Limits& limits, const std::tm* now)
    : template_(tmpl), limits_(limits) {
  if (now != nullptr) {
    now_ = *now;
  } else {
    const std::time_t seconds = std::time(nullptr);
    localtime_r(&seconds, &now_);
  }
}

absl::StatusOr<std::string> Interpreter::Render(const Value& context) {
  context_ = context;
  root_ = std::make_shared<Scope>();
  std::string out;
  absl::StatusOr<Flow> flow = ExecBody(template_.body, root_, &out);
  if (!flow.ok()) {
    // One plain INVALID_ARGUMENT for the caller, whatever the internal markers.
    return absl::InvalidArgumentError(flow.status().message());
  }
  return out;
}

absl::Status Interpreter::Charge(int64_t steps) {
  steps_ += steps;
  if (steps_ > limits_.max_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template exceeded its work limit (", limits_.max_steps, " steps)"));
  }
  return absl::OkStatus();
}

absl::Status Interpreter::ChargeBytes(size_t bytes) {
  if (bytes > limits_.max_output_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("chat template built a string of ", bytes,
                                                   " bytes, over the limit of ",
                                                   limits_.max_output_bytes));
  }
  return Charge(static_cast<int64_t>(bytes / 128));
}

absl::Status Interpreter::Emit(absl::string_view text, std::string* out) {
  JINJA_RETURN_IF_ERROR(ChargeBytes(text.size()));
  if (out->size() + text.size() > limits_.max_output_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template output exceeds ", limits_.max_output_bytes, " bytes"));
  }
  absl::StrAppend(out, text);
  return absl::OkStatus();
}

absl::Status Interpreter::Locate(const absl::Status& status, uint32_t offset) const {
  if (status.GetPayload(kRaisedPayload).has_value() ||
      status.GetPayload(kLocatedPayload).has_value()) {
    return status;
  }
  absl::Status located = ErrorAt(template_.source, offset, status.message());
  located.SetPayload(kLocatedPayload, absl::Cord("1"));
  return located;
}

Value Interpreter::Lookup(absl::string_view name, const Scope* scope) const {
  for (const Scope* s = scope; s != nullptr; s = s->parent.get()) {
    const auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  if (context_.IsDict()) {
    if (const Value* value = context_.dict().Find(name)) return *value;
  }
  return LookupGlobal(name);
}

// -------------------------------------------------------------------------------------------
// Statements.

absl::StatusOr<Interpreter::Flow> Interpreter::ExecBody(const Body& body, const ScopePtr& scope,
                                                        std::string* out) {
  for (const StmtPtr& stmt : body) {
    absl::StatusOr<Flow> flow = Exec(*stmt, scope, out);
    if (!flow.ok()) return Locate(flow.status(), stmt->offset);
    if (*flow != Flow::kNormal) return *flow;
  }
  return Flow::kNormal;
}

absl::StatusOr<Interpreter::Flow> Interpreter::Exec(const Stmt& stmt, const ScopePtr& scope,
                                                    std::string* out) {
  DepthGuard guard(&eval_depth_);
  if (eval_depth_ > limits_.max_eval_depth) {
    return absl::InvalidArgumentError("chat template nests too deeply (recursion limit)");
  }
  JINJA_RETURN_IF_ERROR(Charge(1));
  switch (stmt.kind) {
    case StmtKind::kText:
      JINJA_RETURN_IF_ERROR(Emit(stmt.text, out));
      return Flow::kNormal;
    case StmtKind::kPrint: {
      JINJA_ASSIGN_OR_RETURN(Value value, Eval(*stmt.expr, scope));
      if (value.IsIterator()) {
        return absl::InvalidArgumentError(
            "unsupported: printing a generator (jinja2 prints its address); apply |list first");
      }
      if (!value.IsString()) JINJA_RETURN_IF_ERROR(Charge(value.weight()));
      JINJA_RETURN_IF_ERROR(Emit(Str(value, limits_.max_output_bytes + 1), out));
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      for (const Branch& branch : stmt.branches) {
        JINJA_ASSIGN_OR_RETURN(Value condition, Eval(*branch.condition, scope));
        if (Truthy(condition)) return ExecBody(branch.body, scope, out);
      }
      return ExecBody(stmt.else_body, scope, out);
    case StmtKind::kFor:
      return ExecFor(stmt, scope, out);
    case StmtKind::kSet: {
      JINJA_ASSIGN_OR_RETURN(Value value, Eval(*stmt.expr, scope));
      JINJA_RETURN_IF_ERROR(Assign(stmt.target, value, scope));
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      std::string captured;
      JINJA_RETURN_IF_ERROR(ExecBody(stmt.body, ChildScope(scope), &captured).status());
      Value value = Value::String(std::move(captured));
      if (stmt.filter != nullptr) {
        JINJA_ASSIGN_OR_RETURN(value, ApplyFilterChain(*stmt.filter, std::move(value), scope));
      }
      JINJA_RETURN_IF_ERROR(Assign(stmt.target, value, scope));
      return Flow::kNormal;
    }
    case StmtKind::kMacro:
      scope->vars[stmt.name] = Value::FromObject(std::make_shared<Macro>(&stmt, scope));
      return Flow::kNormal;
    case StmtKind::kCallBlock:
      JINJA_RETURN_IF_ERROR(ExecCallBlock(stmt, scope, out));
      return Flow::kNormal;
    case StmtKind::kFilterBlock: {
      std::string captured;
      JINJA_RETURN_IF_ERROR(ExecBody(stmt.body, ChildScope(scope), &captured).status());
      JINJA_ASSIGN_OR_RETURN(Value value,
                             ApplyFilterChain(*stmt.filter, Value::String(captured), scope));
      if (value.IsIterator()) {
        return absl::InvalidArgumentError("unsupported: printing a generator; apply |list first");
      }
      if (!value.IsString()) JINJA_RETURN_IF_ERROR(Charge(value.weight()));
      JINJA_RETURN_IF_ERROR(Emit(Str(value, limits_.max_output_bytes + 1), out));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      ScopePtr inner = ChildScope(scope);
      for (const auto& [target, expr] : stmt.assignments) {
        JINJA_ASSIGN_OR_RETURN(Value value, Eval(*expr, scope));
        JINJA_RETURN_IF_ERROR(Assign(target, value, inner));
      }
      return ExecBody(stmt.body, inner, out);
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kGeneration: {
      // A call block in transformers: its body is a function of its own.
      JINJA_RETURN_IF_ERROR(ExecBody(stmt.body, ChildScope(scope), out).status());
      return Flow::kNormal;
    }
  }
  return Flow::kNormal;
}

absl::StatusOr<Interpreter::Flow> Interpreter::ExecFor(const Stmt& stmt, const ScopePtr& scope,
                                                       std::string* out) {
  JINJA_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr, scope));
  JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(iterable));
  if (stmt.filter != nullptr) {
    std::vector<Value> kept;
    for (Value& item : items) {
      JINJA_RETURN_IF_ERROR(Charge(1));
      ScopePtr test_scope = ChildScope(scope);
      JINJA_RETURN_IF_ERROR(Assign(stmt.target, item, test_scope));
      JINJA_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.filter, test_scope));
      if (Truthy(keep)) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    JINJA_RETURN_IF_ERROR(ExecBody(stmt.else_body, ChildScope(scope), out).status());
    return Flow::kNormal;
  }
  auto shared_items = std::make_shared<const std::vector<Value>>(std::move(items));
  auto loop = std::make_shared<Loop>(shared_items);
  const Value loop_value = Value::FromObject(loop);
  for (size_t i = 0; i < shared_items->size(); ++i) {
    JINJA_RETURN_IF_ERROR(Charge(1));
    loop->set_index(i);
    // A fresh scope per iteration: what the body sets is gone by the next one, as in jinja2.
    ScopePtr iteration = ChildScope(scope);
    JINJA_RETURN_IF_ERROR(Assign(stmt.target, (*shared_items)[i], iteration));
    iteration->vars["loop"] = loop_value;
    JINJA_ASSIGN_OR_RETURN(Flow flow, ExecBody(stmt.body, iteration, out));
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

absl::Status Interpreter::ExecCallBlock(const Stmt& stmt, const ScopePtr& scope, std::string* out) {
  const Expr& call = *stmt.expr;
  JINJA_ASSIGN_OR_RETURN(Value callee, Eval(*call.object, scope));
  JINJA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call.args, scope));
  args.keyword.emplace_back("caller", Value::FromObject(std::make_shared<Macro>(&stmt, scope)));
  JINJA_ASSIGN_OR_RETURN(Value result, CallValue(callee, std::move(args)));
  if (!result.IsString()) JINJA_RETURN_IF_ERROR(Charge(result.weight()));
  return Emit(Str(result, limits_.max_output_bytes + 1), out);
}

absl::StatusOr<Value> Interpreter::CallMacro(const Stmt& def, const std::weak_ptr<Scope>& closure,
                                             CallArgs args) {
  DepthGuard guard(&call_depth_);
  if (call_depth_ > limits_.max_call_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template macro calls nest deeper than ", limits_.max_call_depth));
  }
  ScopePtr parent = closure.lock();
  ScopePtr scope = ChildScope(parent != nullptr ? parent : root_);
  const size_t n = def.params.size();
  std::vector<bool> bound(n, false);
  std::vector<Value> extra;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n) {
      scope->vars[def.params[i]] = std::move(args.positional[i]);
      bound[i] = true;
    } else {
      extra.push_back(std::move(args.positional[i]));
    }
  }
  if (!extra.empty() && !def.uses_varargs) {
    return absl::InvalidArgumentError(
        absl::StrCat("macro '", def.name, "' takes not more than ", n, " argument(s)"));
  }
  DictData kwargs;
  bool has_caller = false;
  for (auto& [name, value] : args.keyword) {
    size_t index = 0;
    while (index < n && def.params[index] != name) ++index;
    if (index < n) {
      if (bound[index]) {
        return absl::InvalidArgumentError(
            absl::StrCat("macro '", def.name, "' got multiple values for argument '", name, "'"));
      }
      scope->vars[name] = std::move(value);
      bound[index] = true;
    } else if (name == "caller" && def.uses_caller) {
      scope->vars["caller"] = std::move(value);
      has_caller = true;
    } else if (def.uses_kwargs) {
      kwargs.Set(name, std::move(value));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("macro '", def.name, "' takes no keyword argument '", name, "'"));
    }
  }
  const size_t first_default = n - def.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) continue;
    if (i >= first_default) {
      JINJA_ASSIGN_OR_RETURN(scope->vars[def.params[i]],
                             Eval(*def.defaults[i - first_default], scope));
    } else {
      scope->vars[def.params[i]] =
          Value::Undefined(absl::StrCat("parameter '", def.params[i], "' was not provided"));
    }
  }
  if (def.uses_varargs) scope->vars["varargs"] = Value::List(std::move(extra), SeqKind::kTuple);
  if (def.uses_kwargs) scope->vars["kwargs"] = Value::Dict(std::move(kwargs));
  if (def.uses_caller && !has_caller) {
    scope->vars["caller"] = Value::Undefined("No caller defined");
  }
  std::string out;
  JINJA_RETURN_IF_ERROR(ExecBody(def.body, scope, &out).status());
  return Value::String(std::move(out));
}

absl::Status Interpreter::Assign(const Target& target, const Value& value, const ScopePtr& scope) {
  switch (target.kind) {
    case Target::Kind::kName:
      scope->vars[target.name] = value;
      return absl::OkStatus();
    case Target::Kind::kNamespaceAttr: {
      const Value object = Lookup(target.name, scope.get());
      if (!object.IsObject() || !object.object()->IsNamespace()) {
        return absl::InvalidArgumentError("cannot assign attribute on non-namespace object");
      }
      if (absl::StartsWith(target.attr, "_")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Chat templates cannot store underscore-prefixed attributes on a namespace, but "
            "got '",
            target.attr, "'. Please rename the attribute."));
      }
      if (value.holds_namespace()) {
        // Namespaces are the only mutable values; keeping them out of each other keeps every
        // value acyclic.
        return absl::InvalidArgumentError("unsupported: a namespace stored inside a namespace");
      }
      static_cast<Namespace*>(object.object().get())->Set(target.attr, value);
      return absl::OkStatus();
    }
    case Target::Kind::kTuple: {
      JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(value));
      if (items.size() != target.items.size()) {
        return absl::InvalidArgumentError(
            items.size() > target.items.size()
                ? absl::StrCat("too many values to unpack (expected ", target.items.size(), ")")
                : absl::StrCat("not enough values to unpack (expected ", target.items.size(),
                               ", got ", items.size(), ")"));
      }
      for (size_t i = 0; i < items.size(); ++i) {
        JINJA_RETURN_IF_ERROR(Assign(target.items[i], items[i], scope));
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// -------------------------------------------------------------------------------------------
// Expressions.

absl::StatusOr<Value> Interpreter::Eval(const Expr& expr, const ScopePtr& scope) {
  DepthGuard guard(&eval_depth_);
  if (eval_depth_ > limits_.max_eval_depth) {
    return Locate(absl::InvalidArgumentError("chat template nests too deeply (recursion limit)"),
                  expr.offset);
  }
  if (absl::Status charged = Charge(1); !charged.ok()) return Locate(charged, expr.offset);
  absl::StatusOr<Value> result = EvalInner(expr, scope);
  if (!result.ok()) return Locate(result.status(), expr.offset);
  if (result->depth() > limits_.max_value_depth) {
    return Locate(absl::InvalidArgumentError(absl::StrCat("chat template built a value nested ",
                                                          "deeper than ", limits_.max_value_depth,
                                                          " levels")),
                  expr.offset);
  }
  return result;
}

absl::StatusOr<Value> Interpreter::EvalInner(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case ExprKind::kConst:
      return expr.constant;
    case ExprKind::kName:
      return Lookup(expr.name, scope.get());
    case ExprKind::kList:
    case ExprKind::kTuple:
      return EvalSequence(expr, scope);
    case ExprKind::kDict:
      return EvalDict(expr, scope);
    case ExprKind::kGetAttr: {
      JINJA_ASSIGN_OR_RETURN(Value object, Eval(*expr.object, scope));
      return GetAttr(object, expr.name);
    }
    case ExprKind::kGetItem:
      return EvalGetItem(expr, scope);
    case ExprKind::kSlice:
      return absl::InvalidArgumentError("unsupported: a slice outside a subscript");
    case ExprKind::kCall: {
      JINJA_ASSIGN_OR_RETURN(Value callee, Eval(*expr.object, scope));
      JINJA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr.args, scope));
      return CallValue(callee, std::move(args));
    }
    case ExprKind::kFilter: {
      if (expr.object == nullptr) return absl::InvalidArgumentError("filter without input");
      JINJA_ASSIGN_OR_RETURN(Value input, Eval(*expr.object, scope));
      JINJA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr.args, scope));
      return ApplyFilter(expr.name, input, std::move(args));
    }
    case ExprKind::kTest: {
      JINJA_ASSIGN_OR_RETURN(Value input, Eval(*expr.object, scope));
      JINJA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr.args, scope));
      JINJA_ASSIGN_OR_RETURN(bool result, ApplyTest(expr.name, input, std::move(args)));
      return Value::Bool(result != expr.negated);
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      JINJA_ASSIGN_OR_RETURN(Value operand, Eval(*expr.object, scope));
      return UnaryOperation(expr.kind == ExprKind::kNeg, operand);
    }
    case ExprKind::kNot: {
      JINJA_ASSIGN_OR_RETURN(Value operand, Eval(*expr.object, scope));
      return Value::Bool(!Truthy(operand));
    }
    case ExprKind::kBinary: {
      JINJA_ASSIGN_OR_RETURN(Value left, Eval(*expr.object, scope));
      JINJA_ASSIGN_OR_RETURN(Value right, Eval(*expr.index, scope));
      return BinaryOperation(*this, expr.binary_op, left, right);
    }
    case ExprKind::kAnd: {
      JINJA_ASSIGN_OR_RETURN(Value left, Eval(*expr.object, scope));
      if (!Truthy(left)) return left;
      return Eval(*expr.index, scope);
    }
    case ExprKind::kOr: {
      JINJA_ASSIGN_OR_RETURN(Value left, Eval(*expr.object, scope));
      if (Truthy(left)) return left;
      return Eval(*expr.index, scope);
    }
    case ExprKind::kConcat:
      return EvalConcat(expr, scope);
    case ExprKind::kCompare:
      return EvalCompare(expr, scope);
    case ExprKind::kCondExpr: {
      JINJA_ASSIGN_OR_RETURN(Value condition, Eval(*expr.object, scope));
      if (Truthy(condition)) return Eval(*expr.index, scope);
      if (expr.other != nullptr) return Eval(*expr.other, scope);
      return Value::Undefined(absl::StrCat("the inline if-expression on line ",
                                           LineColumn(template_.source, expr.offset),
                                           " evaluated to false and no else section was defined."));
    }
  }
  return absl::InvalidArgumentError("unknown expression");
}

absl::StatusOr<Value> Interpreter::EvalSequence(const Expr& expr, const ScopePtr& scope) {
  std::vector<Value> items;
  items.reserve(expr.items.size());
  for (const ExprPtr& item : expr.items) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*item, scope));
    items.push_back(std::move(value));
  }
  return Value::List(std::move(items),
                     expr.kind == ExprKind::kTuple ? SeqKind::kTuple : SeqKind::kList);
}

absl::StatusOr<Value> Interpreter::EvalDict(const Expr& expr, const ScopePtr& scope) {
  DictData dict;
  for (size_t i = 0; i + 1 < expr.items.size(); i += 2) {
    JINJA_ASSIGN_OR_RETURN(Value key, Eval(*expr.items[i], scope));
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*expr.items[i + 1], scope));
    if (!IsHashable(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(key), "'"));
    }
    dict.Set(std::move(key), std::move(value));
  }
  return Value::Dict(std::move(dict));
}

absl::StatusOr<Value> Interpreter::EvalGetItem(const Expr& expr, const ScopePtr& scope) {
  JINJA_ASSIGN_OR_RETURN(Value object, Eval(*expr.object, scope));
  if (expr.index->kind != ExprKind::kSlice) {
    JINJA_ASSIGN_OR_RETURN(Value key, Eval(*expr.index, scope));
    return GetItem(object, key);
  }
  std::array<Value, 3> parts;
  for (size_t i = 0; i < 3; ++i) {
    if (expr.index->items[i] == nullptr) {
      parts[i] = Value::None();
    } else {
      JINJA_ASSIGN_OR_RETURN(parts[i], Eval(*expr.index->items[i], scope));
    }
  }
  if (object.IsUndefined()) return UndefinedError(object);
  return SliceValue(*this, object, parts[0], parts[1], parts[2]);
}

absl::StatusOr<Value> Interpreter::EvalCompare(const Expr& expr, const ScopePtr& scope) {
  JINJA_ASSIGN_OR_RETURN(Value left, Eval(*expr.object, scope));
  for (size_t i = 0; i < expr.compare_ops.size(); ++i) {
    JINJA_ASSIGN_OR_RETURN(Value right, Eval(*expr.items[i], scope));
    // Comparing walks the smaller operand; `in` walks the container.
    const CompareOp op = expr.compare_ops[i];
    JINJA_RETURN_IF_ERROR(Charge(op == CompareOp::kIn || op == CompareOp::kNotIn
                                     ? right.weight()
                                     : std::min(left.weight(), right.weight())));
    JINJA_ASSIGN_OR_RETURN(bool holds, CompareValues(op, left, right));
    if (!holds) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

absl::StatusOr<Value> Interpreter::EvalConcat(const Expr& expr, const ScopePtr& scope) {
  // Every operand is evaluated before any is converted, as in jinja2.
  std::vector<Value> values;
  values.reserve(expr.items.size());
  for (const ExprPtr& item : expr.items) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*item, scope));
    values.push_back(std::move(value));
  }
  std::string out;
  for (const Value& value : values) {
    if (value.IsIterator()) {
      return absl::InvalidArgumentError("unsupported: '~' on a generator; apply |list first");
    }
    if (!value.IsString()) JINJA_RETURN_IF_ERROR(Charge(value.weight()));
    out.append(Str(value, limits_.max_output_bytes + 1));
    JINJA_RETURN_IF_ERROR(ChargeBytes(out.size()));
  }
  return Value::String(std::move(out));
}

absl::StatusOr<CallArgs> Interpreter::EvalArgs(const Args& args, const ScopePtr& scope) {
  CallArgs out;
  for (const ExprPtr& arg : args.positional) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*arg, scope));
    out.positional.push_back(std::move(value));
  }
  if (args.star_args != nullptr) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*args.star_args, scope));
    JINJA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(value));
    for (Value& item : items) out.positional.push_back(std::move(item));
  }
  for (const auto& [name, arg] : args.keyword) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*arg, scope));
    out.keyword.emplace_back(name, std::move(value));
  }
  if (args.star_kwargs != nullptr) {
    JINJA_ASSIGN_OR_RETURN(Value value, Eval(*args.star_kwargs, scope));
    if (!value.IsDict()) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument after ** must be a mapping, not ", TypeName(value)));
    }
    JINJA_RETURN_IF_ERROR(Charge(static_cast<int64_t>(value.dict().items.size())));
    for (const auto& [name, item] : value.dict().items) {
      if (!name.IsString()) return absl::InvalidArgumentError("keywords must be strings");
      out.keyword.emplace_back(name.string(), item);
    }
  }
  return out;
}

absl::StatusOr<Value> Interpreter::ApplyFilterChain(const Expr& filter, Value input,
                                                    const ScopePtr& scope) {
  if (filter.object != nullptr) {
    JINJA_ASSIGN_OR_RETURN(input, ApplyFilterChain(*filter.object, std::move(input), scope));
  }
  JINJA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(filter.args, scope));
  return ApplyFilter(filter.name, input, std::move(args));
}

// -------------------------------------------------------------------------------------------
// Access and calls.

absl::StatusOr<Value> Interpreter::GetAttr(const Value& object, absl::string_view name) {
  if (object.IsUndefined()) return UndefinedError(object);
  if (absl::StartsWith(name, "_") && !object.IsDict()) {
    return Value::Undefined(absl::StrCat("access to attribute '", name, "' of '", TypeName(object),
                                         "' object is unsafe."));
  }
  if (std::optional<Value> method = LookupMethod(object, name)) return *std::move(method);
  if (object.IsDict()) {
    if (const Value* value = object.dict().Find(name)) return *value;
  } else if (object.IsObject()) {
    bool found = false;
    Value value = object.object()->GetAttr(name, &found);
    if (found) return value;
  }
  return Value::Undefined(
      absl::StrCat("'", ObjectTypeRepr(object), "' has no attribute '", name, "'"));
}

absl::StatusOr<Value> Interpreter::GetItem(const Value& object, const Value& key) {
  if (object.IsUndefined()) return UndefinedError(object);
  // Indexing a string decodes it; hashing a key reads it.
  JINJA_RETURN_IF_ERROR(Charge(object.IsString() ? object.weight() : key.weight()));
  if (object.IsDict()) {
    if (const Value* value = object.dict().Find(key)) return *value;
  } else if (object.IsSequence() && key.IsIntegral()) {
    const std::vector<Value>& items = object.list().items;
    int64_t index = key.int_value();
    if (index < 0) index += static_cast<int64_t>(items.size());
    if (index >= 0 && index < static_cast<int64_t>(items.size())) {
      return items[static_cast<size_t>(index)];
    }
  } else if (object.IsString() && key.IsIntegral()) {
    if (std::optional<Value> c = CharAt(object.string(), key.int_value())) {
      return Value::StringLike(object, c->string());
    }
  }
  // jinja2 falls back to the attribute of that name: methods, namespace and loop attributes.
  if (key.IsString()) {
    JINJA_ASSIGN_OR_RETURN(Value value, GetAttr(object, key.string()));
    if (!value.IsUndefined()) return value;
    return Value::Undefined(
        absl::StrCat("'", ObjectTypeRepr(object), "' has no attribute '", key.string(), "'"));
  }
  return Value::Undefined(absl::StrCat(ObjectTypeRepr(object), " has no element ", Repr(key)));
}

absl::StatusOr<Value> Interpreter::CallValue(const Value& callee, CallArgs args) {
  if (callee.IsUndefined()) return UndefinedError(callee);
  if (!callee.IsObject() || !callee.object()->IsCallable()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(callee), "' object is not callable"));
  }
  JINJA_RETURN_IF_ERROR(Charge(1));
  return static_cast<const Callable*>(callee.object().get())->Call(*this, std::move(args));
}

absl::StatusOr<Value> Interpreter::ApplyFilter(absl::string_view name, const Value& input,
                                               CallArgs args) {
  JINJA_RETURN_IF_ERROR(Charge(FilterCost(name, input)));
  switch (FilterAvailability(name)) {
    case Availability::kUnknown:
      return absl::InvalidArgumentError(absl::StrCat("No filter named '", name, "' found."));
    case Availability::kUnimplemented:
      return absl::InvalidArgumentError(absl::StrCat("unsupported filter '", name, "'"));
    case Availability::kImplemented:
      break;
  }
  return CallFilter(*this, name, input, std::move(args));
}

absl::StatusOr<bool> Interpreter::ApplyTest(absl::string_view name, const Value& input,
                                            CallArgs args) {
  JINJA_RETURN_IF_ERROR(Charge(TestCost(name, input, args)));
  if (TestAvailability(name) != Availability::kImplemented) {
    return absl::InvalidArgumentError(absl::StrCat("No test named '", name, "' found."));
  }
  return CallTest(*this, name, input, std::move(args));
}

absl::StatusOr<std::vector<Value>> Interpreter::Iterate(const Value& value) {
  std::vector<Value> items;
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return items;
    case Value::Kind::kList:
      JINJA_RETURN_IF_ERROR(value.list().deferred_error);
      items = value.list().items;
      break;
    case Value::Kind::kDict:
      items.reserve(value.dict().items.size());
      for (const auto& [key, item] : value.dict().items) items.push_back(key);
      break;
    case Value::Kind::kString: {
      const std::string& text = value.string();
      size_t pos = 0;
      while (pos < text.size()) {
        const size_t start = pos;
        ++pos;
        while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
        items.push_back(Value::String(text.substr(start, pos - start)));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", TypeName(value), "' object is not iterable"));
  }
  JINJA_RETURN_IF_ERROR(Charge(static_cast<int64_t>(items.size())));
  return items;
}

}  // namespace trustformers::tokenizers::jinja
