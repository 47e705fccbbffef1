// The parsed form of a template: statements and expressions as the parser builds them and the
// interpreter walks them. A parsed template is immutable and shared by every render, so nothing
// here holds per-render state. Offsets point into the normalised source for error positions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizers/jinja/value.h"

namespace trustformers::tokenizers::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Arguments of a call, filter or test: f(a, b, key=c, *d, **e).
struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;
  ExprPtr star_kwargs;
};

enum class ExprKind : uint8_t {
  kConst,
  kName,
  kList,
  kTuple,
  kDict,
  kGetAttr,
  kGetItem,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNeg,
  kPos,
  kNot,
  kBinary,
  kAnd,
  kOr,
  kConcat,
  kCompare,
  kCondExpr,
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr {
  ExprKind kind = ExprKind::kConst;
  uint32_t offset = 0;
  // kConst.
  Value constant;
  // Variable (kName), attribute (kGetAttr), filter or test name.
  std::string name;
  // Elements of kList / kTuple / kConcat; keys and values alternating for kDict; right-hand
  // operands of kCompare; start, stop, step (each may be null) of kSlice.
  std::vector<ExprPtr> items;
  // The operand: object of kGetAttr / kGetItem, callee of kCall, input of kFilter (null for the
  // innermost filter of a {% filter %} block or {% set %} block), kTest, unary operators and
  // the left side of binary ones; the condition of kCondExpr; the first operand of kCompare.
  ExprPtr object;
  // Key of kGetItem, right side of binary operators, the value of kCondExpr when true.
  ExprPtr index;
  // The value of kCondExpr when false (null: undefined).
  ExprPtr other;
  Args args;
  BinaryOp binary_op = BinaryOp::kAdd;
  std::vector<CompareOp> compare_ops;
  // `is not`.
  bool negated = false;
  // 1 + the height of the tallest child.
  int height = 1;
};

// Left side of set / for / with: a name, a namespace attribute (ns.x) or a tuple of names.
struct Target {
  enum class Kind : uint8_t { kName, kNamespaceAttr, kTuple };
  Kind kind = Kind::kName;
  uint32_t offset = 0;
  std::string name;
  std::string attr;
  std::vector<Target> items;
};

enum class StmtKind : uint8_t {
  kText,
  kPrint,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  // transformers' {% generation %}: renders its body in a scope of its own.
  kGeneration,
};

// One `if` / `elif` condition and the statements it guards.
struct Branch {
  ExprPtr condition;
  Body body;
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  uint32_t offset = 0;
  // kText.
  std::string text;
  // kPrint value, kFor iterable, kSet value, kCallBlock call.
  ExprPtr expr;
  // kIf: the if and elif branches, tried in order.
  std::vector<Branch> branches;
  // kFor: the `if` filter of the loop. kSetBlock / kFilterBlock: the filter chain.
  ExprPtr filter;
  Target target;
  Body body;
  // The else branch of kIf and kFor.
  Body else_body;
  // kMacro / kCallBlock: name and parameters; defaults belong to the last parameters.
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;
  bool uses_caller = false;
  bool uses_varargs = false;
  bool uses_kwargs = false;
  // kWith.
  std::vector<std::pair<Target, ExprPtr>> assignments;
};

}  // namespace trustformers::tokenizers::jinja
