#include "tokenizers/jinja/parser.h"

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tokenizers/jinja/lexer.h"
#include "tokenizers/jinja/status_macros.h"
#include "tokenizers/jinja/tree_checks.h"

namespace trustformers::tokenizers::jinja {
namespace {

// Deeper nesting of expressions or statements than this is refused: the parser and the
// interpreter recurse once per level, and a hostile template must not exhaust the stack.
constexpr int kMaxNesting = 100;
// The tallest expression tree accepted (long operator and filter chains).
constexpr int kMaxHeight = 256;

using Names = std::initializer_list<absl::string_view>;

bool Contains(Names names, absl::string_view name) {
  for (absl::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

ExprPtr MakeExpr(ExprKind kind, uint32_t offset) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->offset = offset;
  return expr;
}

StmtPtr MakeStmt(StmtKind kind, uint32_t offset) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = kind;
  stmt->offset = offset;
  return stmt;
}

class Parser {
 public:
  Parser(absl::string_view source, std::vector<Token> tokens)
      : source_(source), tokens_(std::move(tokens)) {}

  absl::StatusOr<Body> ParseAll() {
    JINJA_ASSIGN_OR_RETURN(Body body, Subparse({}));
    if (Current().kind != TokenKind::kEof) return Error(Current(), "unexpected tag");
    return body;
  }

 private:
  // Counts one level of nesting for as long as it lives.
  class NestingGuard {
   public:
    explicit NestingGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~NestingGuard() { --*depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    bool exceeded() const { return *depth_ > kMaxNesting; }

   private:
    int* depth_;
  };

  const Token& Current() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  void Next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }

  static bool IsName(const Token& token, absl::string_view name) {
    return token.kind == TokenKind::kName && token.text == name;
  }
  static bool IsOp(const Token& token, absl::string_view op) {
    return token.kind == TokenKind::kOperator && token.text == op;
  }
  bool SkipName(absl::string_view name) {
    if (!IsName(Current(), name)) return false;
    Next();
    return true;
  }
  bool SkipOp(absl::string_view op) {
    if (!IsOp(Current(), op)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& token) {
    switch (token.kind) {
      case TokenKind::kData:
        return "template data";
      case TokenKind::kVariableBegin:
        return "begin of print statement";
      case TokenKind::kVariableEnd:
        return "end of print statement";
      case TokenKind::kBlockBegin:
        return "begin of statement block";
      case TokenKind::kBlockEnd:
        return "end of statement block";
      case TokenKind::kName:
      case TokenKind::kOperator:
        return absl::StrCat("'", token.text, "'");
      case TokenKind::kString:
        return "string";
      case TokenKind::kInteger:
        return "integer";
      case TokenKind::kFloat:
        return "float";
      case TokenKind::kEof:
        return "end of template";
    }
    return "token";
  }

  absl::Status Error(const Token& token, absl::string_view message) const {
    return ErrorAt(source_, token.offset, message);
  }
  absl::Status Error(uint32_t offset, absl::string_view message) const {
    return ErrorAt(source_, offset, message);
  }

  absl::Status ExpectKind(TokenKind kind, absl::string_view what) {
    if (Current().kind != kind) {
      return Error(Current(), absl::StrCat("expected ", what, ", got ", Describe(Current())));
    }
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (!IsOp(Current(), op)) {
      return Error(Current(), absl::StrCat("expected '", op, "', got ", Describe(Current())));
    }
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectName(absl::string_view name) {
    if (!IsName(Current(), name)) {
      return Error(Current(), absl::StrCat("expected '", name, "', got ", Describe(Current())));
    }
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectAnyName() {
    if (Current().kind != TokenKind::kName) {
      return Error(Current(), absl::StrCat("expected a name, got ", Describe(Current())));
    }
    std::string name = Current().text;
    Next();
    return name;
  }

  // ---------------------------------------------------------------------------------------
  // Statements.

  // Statements up to a block tag named in `end_names` (left as the current token) or the end.
  absl::StatusOr<Body> Subparse(Names end_names) {
    Body body;
    while (Current().kind != TokenKind::kEof) {
      const Token& token = Current();
      if (token.kind == TokenKind::kData) {
        StmtPtr text = MakeStmt(StmtKind::kText, token.offset);
        text->text = token.text;
        body.push_back(std::move(text));
        Next();
      } else if (token.kind == TokenKind::kVariableBegin) {
        Next();
        StmtPtr print = MakeStmt(StmtKind::kPrint, Current().offset);
        JINJA_ASSIGN_OR_RETURN(print->expr, ParseTuple(true, {}, false));
        JINJA_RETURN_IF_ERROR(ExpectKind(TokenKind::kVariableEnd, "end of print statement"));
        body.push_back(std::move(print));
      } else if (token.kind == TokenKind::kBlockBegin) {
        Next();
        if (Current().kind == TokenKind::kName && Contains(end_names, Current().text)) {
          return body;
        }
        JINJA_RETURN_IF_ERROR(ParseStatement(&body));
        JINJA_RETURN_IF_ERROR(ExpectKind(TokenKind::kBlockEnd, "end of statement block"));
      } else {
        return Error(token, absl::StrCat("unexpected ", Describe(token)));
      }
    }
    return body;
  }

  // The body of a block statement: the rest of the opening tag, then statements up to one of
  // `end_names`. With drop_needle the closing name is consumed.
  absl::StatusOr<Body> ParseStatements(absl::string_view tag, uint32_t tag_offset, Names end_names,
                                       bool drop_needle) {
    SkipOp(":");
    JINJA_RETURN_IF_ERROR(ExpectKind(TokenKind::kBlockEnd, "end of statement block"));
    JINJA_ASSIGN_OR_RETURN(Body body, Subparse(end_names));
    if (Current().kind == TokenKind::kEof) {
      std::vector<std::string> quoted;
      for (absl::string_view name : end_names) quoted.push_back(absl::StrCat("'", name, "'"));
      return Error(tag_offset, absl::StrCat("unexpected end of template: the '", tag,
                                            "' tag here is never closed (looking for ",
                                            absl::StrJoin(quoted, " or "), ")"));
    }
    if (drop_needle) Next();
    return body;
  }

  absl::Status ParseStatement(Body* out) {
    const Token& token = Current();
    if (token.kind != TokenKind::kName) return Error(token, "tag name expected");
    NestingGuard guard(&depth_);
    if (guard.exceeded()) return Error(token, "template nested too deeply");
    const std::string tag = token.text;
    const uint32_t offset = token.offset;
    if (tag == "for") return ParseFor(out);
    if (tag == "if") return ParseIf(out);
    if (tag == "set") return ParseSet(out);
    if (tag == "macro") return ParseMacro(out);
    if (tag == "call") return ParseCallBlock(out);
    if (tag == "filter") return ParseFilterBlock(out);
    if (tag == "with") return ParseWith(out);
    if (tag == "print") return ParsePrint(out);
    if (tag == "generation") {
      Next();
      StmtPtr stmt = MakeStmt(StmtKind::kGeneration, offset);
      JINJA_ASSIGN_OR_RETURN(stmt->body, ParseStatements(tag, offset, {"endgeneration"}, true));
      out->push_back(std::move(stmt));
      return absl::OkStatus();
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return Error(token, absl::StrCat("'", tag, "' outside of a loop"));
      Next();
      out->push_back(MakeStmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, offset));
      return absl::OkStatus();
    }
    if (tag == "extends" || tag == "include" || tag == "import" || tag == "from") {
      return Error(token, absl::StrCat("unsupported tag '", tag,
                                       "': a chat template cannot load other templates"));
    }
    if (tag == "block" || tag == "autoescape") {
      return Error(token, absl::StrCat("unsupported tag '", tag, "'"));
    }
    return Error(token, absl::StrCat("Encountered unknown tag '", tag, "'"));
  }

  absl::Status ParseFor(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kFor, offset);
    JINJA_ASSIGN_OR_RETURN(stmt->target, ParseAssignTarget({"in"}, false));
    JINJA_RETURN_IF_ERROR(ExpectName("in"));
    JINJA_ASSIGN_OR_RETURN(stmt->expr, ParseTuple(false, {"recursive"}, false));
    if (SkipName("if")) {
      JINJA_ASSIGN_OR_RETURN(stmt->filter, ParseExpression(true));
    }
    if (IsName(Current(), "recursive")) {
      return Error(Current(), "unsupported: recursive loops");
    }
    ++loop_depth_;
    absl::StatusOr<Body> body = ParseStatements("for", offset, {"endfor", "else"}, false);
    --loop_depth_;
    if (!body.ok()) return body.status();
    stmt->body = *std::move(body);
    const bool has_else = IsName(Current(), "else");
    Next();
    if (has_else) {
      JINJA_ASSIGN_OR_RETURN(stmt->else_body, ParseStatements("for", offset, {"endfor"}, true));
    }
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseIf(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kIf, offset);
    while (true) {
      Branch branch;
      JINJA_ASSIGN_OR_RETURN(branch.condition, ParseTuple(false, {}, false));
      JINJA_ASSIGN_OR_RETURN(branch.body,
                             ParseStatements("if", offset, {"elif", "else", "endif"}, false));
      stmt->branches.push_back(std::move(branch));
      const std::string closing = Current().text;
      Next();
      if (closing == "elif") continue;
      if (closing == "else") {
        JINJA_ASSIGN_OR_RETURN(stmt->else_body, ParseStatements("if", offset, {"endif"}, true));
      }
      break;
    }
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseSet(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    JINJA_ASSIGN_OR_RETURN(Target target, ParseAssignTarget({}, true));
    if (SkipOp("=")) {
      StmtPtr stmt = MakeStmt(StmtKind::kSet, offset);
      stmt->target = std::move(target);
      JINJA_ASSIGN_OR_RETURN(stmt->expr, ParseTuple(true, {}, false));
      out->push_back(std::move(stmt));
      return absl::OkStatus();
    }
    StmtPtr stmt = MakeStmt(StmtKind::kSetBlock, offset);
    stmt->target = std::move(target);
    if (IsOp(Current(), "|")) {
      JINJA_ASSIGN_OR_RETURN(stmt->filter, ParseFilter(nullptr, false));
    }
    JINJA_ASSIGN_OR_RETURN(stmt->body, ParseStatements("set", offset, {"endset"}, true));
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseSignature(Stmt* stmt) {
    JINJA_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(Current(), ")")) {
      if (!stmt->params.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      JINJA_ASSIGN_OR_RETURN(std::string param, ExpectAnyName());
      if (SkipOp("=")) {
        JINJA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        stmt->defaults.push_back(std::move(value));
      } else if (!stmt->defaults.empty()) {
        return Error(Current(), "non-default argument follows default argument");
      }
      stmt->params.push_back(std::move(param));
    }
    return ExpectOp(")");
  }

  // The body of a macro or call block: a function of its own, where loop controls of the
  // enclosing template do not reach.
  absl::StatusOr<Body> ParseFunctionBody(absl::string_view tag, uint32_t offset,
                                         absl::string_view end) {
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    absl::StatusOr<Body> body = ParseStatements(tag, offset, {end}, true);
    loop_depth_ = saved_loop_depth;
    return body;
  }

  absl::Status ParseMacro(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kMacro, offset);
    JINJA_ASSIGN_OR_RETURN(stmt->name, ExpectAnyName());
    JINJA_RETURN_IF_ERROR(ParseSignature(stmt.get()));
    JINJA_ASSIGN_OR_RETURN(stmt->body, ParseFunctionBody("macro", offset, "endmacro"));
    stmt->uses_caller = ReadsName(stmt->body, "caller");
    stmt->uses_varargs = ReadsName(stmt->body, "varargs");
    stmt->uses_kwargs = ReadsName(stmt->body, "kwargs");
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseCallBlock(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kCallBlock, offset);
    stmt->name = "caller";
    if (IsOp(Current(), "(")) JINJA_RETURN_IF_ERROR(ParseSignature(stmt.get()));
    JINJA_ASSIGN_OR_RETURN(stmt->expr, ParseExpression(true));
    if (stmt->expr->kind != ExprKind::kCall) return Error(offset, "expected call");
    JINJA_ASSIGN_OR_RETURN(stmt->body, ParseFunctionBody("call", offset, "endcall"));
    stmt->uses_varargs = ReadsName(stmt->body, "varargs");
    stmt->uses_kwargs = ReadsName(stmt->body, "kwargs");
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseFilterBlock(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kFilterBlock, offset);
    JINJA_ASSIGN_OR_RETURN(stmt->filter, ParseFilter(nullptr, true));
    JINJA_ASSIGN_OR_RETURN(stmt->body, ParseStatements("filter", offset, {"endfilter"}, true));
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParseWith(Body* out) {
    const uint32_t offset = Current().offset;
    Next();
    StmtPtr stmt = MakeStmt(StmtKind::kWith, offset);
    while (Current().kind != TokenKind::kBlockEnd) {
      if (!stmt->assignments.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      JINJA_ASSIGN_OR_RETURN(Target target, ParseAssignTarget({}, false));
      JINJA_RETURN_IF_ERROR(ExpectOp("="));
      JINJA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      stmt->assignments.emplace_back(std::move(target), std::move(value));
    }
    JINJA_ASSIGN_OR_RETURN(stmt->body, ParseStatements("with", offset, {"endwith"}, true));
    out->push_back(std::move(stmt));
    return absl::OkStatus();
  }

  absl::Status ParsePrint(Body* out) {
    Next();
    bool first = true;
    while (Current().kind != TokenKind::kBlockEnd) {
      if (!first) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      first = false;
      StmtPtr stmt = MakeStmt(StmtKind::kPrint, Current().offset);
      JINJA_ASSIGN_OR_RETURN(stmt->expr, ParseExpression(true));
      out->push_back(std::move(stmt));
    }
    return absl::OkStatus();
  }

  bool IsTupleEnd(Names extra_end) const {
    const Token& token = Current();
    if (token.kind == TokenKind::kVariableEnd || token.kind == TokenKind::kBlockEnd ||
        IsOp(token, ")")) {
      return true;
    }
    return token.kind == TokenKind::kName && Contains(extra_end, token.text);
  }

  absl::StatusOr<Target> ParseOneTarget(bool with_namespace) {
    const Token& token = Current();
    if (token.kind != TokenKind::kName) {
      return Error(token, absl::StrCat("can't assign to ", Describe(token)));
    }
    if (Contains({"true", "false", "True", "False", "none", "None"}, token.text)) {
      return Error(token, "can't assign to 'const'");
    }
    Target target;
    target.offset = token.offset;
    target.name = token.text;
    Next();
    if (with_namespace && IsOp(Current(), ".")) {
      Next();
      target.kind = Target::Kind::kNamespaceAttr;
      JINJA_ASSIGN_OR_RETURN(target.attr, ExpectAnyName());
    }
    return target;
  }

  // A name, ns.attr (with_namespace) or names separated by commas.
  absl::StatusOr<Target> ParseAssignTarget(Names extra_end, bool with_namespace) {
    Target tuple;
    tuple.kind = Target::Kind::kTuple;
    tuple.offset = Current().offset;
    bool is_tuple = false;
    while (true) {
      if (!tuple.items.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end)) break;
      JINJA_ASSIGN_OR_RETURN(Target item, ParseOneTarget(with_namespace));
      tuple.items.push_back(std::move(item));
      if (!IsOp(Current(), ",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (tuple.items.empty()) {
        return Error(Current(), absl::StrCat("expected a name, got ", Describe(Current())));
      }
      return std::move(tuple.items[0]);
    }
    for (const Target& item : tuple.items) {
      if (item.kind != Target::Kind::kName) {
        return Error(item.offset, "unsupported: namespace attribute in a tuple assignment");
      }
    }
    return tuple;
  }

  // Records `expr`'s height once its children are attached. Chains such as a + b + c + ... or
  // x|f|g|... nest without recursion in the parser, so their height is bounded here: the
  // interpreter, the checks above and the destructor all recurse once per level.
  absl::Status Seal(Expr* expr) const {
    int height = 0;
    auto see = [&height](const ExprPtr& child) {
      if (child != nullptr) height = std::max(height, child->height);
    };
    for (const ExprPtr& item : expr->items) see(item);
    see(expr->object);
    see(expr->index);
    see(expr->other);
    for (const ExprPtr& arg : expr->args.positional) see(arg);
    for (const auto& [key, arg] : expr->args.keyword) see(arg);
    see(expr->args.star_args);
    see(expr->args.star_kwargs);
    expr->height = height + 1;
    if (expr->height > kMaxHeight) return Error(expr->offset, "expression nested too deeply");
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------------------------
  // Expressions, by increasing precedence: a if b else c; or; and; not; comparisons and in;
  // + -; ~; * / // %; **; unary - +; then primaries with .attr, [item], (call), |filter and
  // `is` tests.

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    NestingGuard guard(&depth_);
    if (guard.exceeded()) return Error(Current(), "expression nested too deeply");
    return with_condexpr ? ParseCondExpr() : ParseOr();
  }

  absl::StatusOr<ExprPtr> ParseCondExpr() {
    const uint32_t offset = Current().offset;
    JINJA_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (SkipName("if")) {
      ExprPtr cond = MakeExpr(ExprKind::kCondExpr, offset);
      JINJA_ASSIGN_OR_RETURN(cond->object, ParseOr());
      cond->index = std::move(expr);
      if (SkipName("else")) {
        NestingGuard guard(&depth_);
        if (guard.exceeded()) return Error(Current(), "expression nested too deeply");
        JINJA_ASSIGN_OR_RETURN(cond->other, ParseCondExpr());
      }
      JINJA_RETURN_IF_ERROR(Seal(cond.get()));
      expr = std::move(cond);
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    JINJA_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName(Current(), "or")) {
      ExprPtr node = MakeExpr(ExprKind::kOr, Current().offset);
      Next();
      node->object = std::move(left);
      JINJA_ASSIGN_OR_RETURN(node->index, ParseAnd());
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    JINJA_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName(Current(), "and")) {
      ExprPtr node = MakeExpr(ExprKind::kAnd, Current().offset);
      Next();
      node->object = std::move(left);
      JINJA_ASSIGN_OR_RETURN(node->index, ParseNot());
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName(Current(), "not")) {
      NestingGuard guard(&depth_);
      if (guard.exceeded()) return Error(Current(), "expression nested too deeply");
      ExprPtr node = MakeExpr(ExprKind::kNot, Current().offset);
      Next();
      JINJA_ASSIGN_OR_RETURN(node->object, ParseNot());
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      return node;
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    const uint32_t offset = Current().offset;
    JINJA_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr node;
    while (true) {
      const Token& token = Current();
      CompareOp op;
      if (IsOp(token, "==")) {
        op = CompareOp::kEq;
      } else if (IsOp(token, "!=")) {
        op = CompareOp::kNe;
      } else if (IsOp(token, "<")) {
        op = CompareOp::kLt;
      } else if (IsOp(token, "<=")) {
        op = CompareOp::kLe;
      } else if (IsOp(token, ">")) {
        op = CompareOp::kGt;
      } else if (IsOp(token, ">=")) {
        op = CompareOp::kGe;
      } else if (IsName(token, "in")) {
        op = CompareOp::kIn;
      } else if (IsName(token, "not") && IsName(Look(), "in")) {
        op = CompareOp::kNotIn;
        Next();
      } else {
        break;
      }
      Next();
      if (node == nullptr) {
        node = MakeExpr(ExprKind::kCompare, offset);
        node->object = std::move(first);
      }
      node->compare_ops.push_back(op);
      JINJA_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      node->items.push_back(std::move(operand));
    }
    if (node == nullptr) return first;
    JINJA_RETURN_IF_ERROR(Seal(node.get()));
    return node;
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    JINJA_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp(Current(), "+") || IsOp(Current(), "-")) {
      ExprPtr node = MakeExpr(ExprKind::kBinary, Current().offset);
      node->binary_op = Current().text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      Next();
      node->object = std::move(left);
      JINJA_ASSIGN_OR_RETURN(node->index, ParseConcat());
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    const uint32_t offset = Current().offset;
    JINJA_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
    if (!IsOp(Current(), "~")) return first;
    ExprPtr node = MakeExpr(ExprKind::kConcat, offset);
    node->items.push_back(std::move(first));
    while (SkipOp("~")) {
      JINJA_ASSIGN_OR_RETURN(ExprPtr next, ParseMath2());
      node->items.push_back(std::move(next));
    }
    JINJA_RETURN_IF_ERROR(Seal(node.get()));
    return node;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    JINJA_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (true) {
      const Token& token = Current();
      BinaryOp op;
      if (IsOp(token, "*")) {
        op = BinaryOp::kMul;
      } else if (IsOp(token, "/")) {
        op = BinaryOp::kDiv;
      } else if (IsOp(token, "//")) {
        op = BinaryOp::kFloorDiv;
      } else if (IsOp(token, "%")) {
        op = BinaryOp::kMod;
      } else {
        break;
      }
      ExprPtr node = MakeExpr(ExprKind::kBinary, token.offset);
      node->binary_op = op;
      Next();
      node->object = std::move(left);
      JINJA_ASSIGN_OR_RETURN(node->index, ParsePow());
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    JINJA_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp(Current(), "**")) {
      ExprPtr node = MakeExpr(ExprKind::kBinary, Current().offset);
      node->binary_op = BinaryOp::kPow;
      Next();
      node->object = std::move(left);
      JINJA_ASSIGN_OR_RETURN(node->index, ParseUnary(true));
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    NestingGuard guard(&depth_);
    if (guard.exceeded()) return Error(Current(), "expression nested too deeply");
    ExprPtr node;
    if (IsOp(Current(), "-") || IsOp(Current(), "+")) {
      node = MakeExpr(Current().text == "-" ? ExprKind::kNeg : ExprKind::kPos, Current().offset);
      Next();
      JINJA_ASSIGN_OR_RETURN(node->object, ParseUnary(false));
      JINJA_RETURN_IF_ERROR(Seal(node.get()));
    } else {
      JINJA_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    JINJA_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      JINJA_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& token = Current();
    switch (token.kind) {
      case TokenKind::kName: {
        ExprPtr node = MakeExpr(ExprKind::kConst, token.offset);
        if (token.text == "true" || token.text == "True") {
          node->constant = Value::Bool(true);
        } else if (token.text == "false" || token.text == "False") {
          node->constant = Value::Bool(false);
        } else if (token.text == "none" || token.text == "None") {
          node->constant = Value::None();
        } else {
          node->kind = ExprKind::kName;
          node->name = token.text;
        }
        Next();
        return node;
      }
      case TokenKind::kString: {
        ExprPtr node = MakeExpr(ExprKind::kConst, token.offset);
        std::string text;
        while (Current().kind == TokenKind::kString) {
          text.append(Current().text);
          Next();
        }
        node->constant = Value::String(std::move(text));
        return node;
      }
      case TokenKind::kInteger: {
        ExprPtr node = MakeExpr(ExprKind::kConst, token.offset);
        node->constant = Value::Int(token.integer);
        Next();
        return node;
      }
      case TokenKind::kFloat: {
        ExprPtr node = MakeExpr(ExprKind::kConst, token.offset);
        node->constant = Value::Float(token.number);
        Next();
        return node;
      }
      case TokenKind::kOperator:
        if (token.text == "(") {
          Next();
          JINJA_ASSIGN_OR_RETURN(ExprPtr node, ParseTuple(true, {}, true));
          JINJA_RETURN_IF_ERROR(ExpectOp(")"));
          return node;
        }
        if (token.text == "[") return ParseList();
        if (token.text == "{") return ParseDict();
        break;
      default:
        break;
    }
    return Error(token, absl::StrCat("unexpected ", Describe(token)));
  }

  // Expressions separated by commas: a tuple when there is a comma, else the one expression.
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condexpr, Names extra_end,
                                     bool explicit_parentheses) {
    ExprPtr tuple = MakeExpr(ExprKind::kTuple, Current().offset);
    bool is_tuple = false;
    while (true) {
      if (!tuple->items.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end)) break;
      JINJA_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      tuple->items.push_back(std::move(item));
      if (!IsOp(Current(), ",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!tuple->items.empty()) return std::move(tuple->items[0]);
      if (!explicit_parentheses) {
        return Error(Current(), absl::StrCat("expected an expression, got ", Describe(Current())));
      }
    }
    JINJA_RETURN_IF_ERROR(Seal(tuple.get()));
    return tuple;
  }

  absl::StatusOr<ExprPtr> ParseList() {
    ExprPtr node = MakeExpr(ExprKind::kList, Current().offset);
    JINJA_RETURN_IF_ERROR(ExpectOp("["));
    while (!IsOp(Current(), "]")) {
      if (!node->items.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(Current(), "]")) break;
      JINJA_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
      node->items.push_back(std::move(item));
    }
    JINJA_RETURN_IF_ERROR(ExpectOp("]"));
    JINJA_RETURN_IF_ERROR(Seal(node.get()));
    return node;
  }

  absl::StatusOr<ExprPtr> ParseDict() {
    ExprPtr node = MakeExpr(ExprKind::kDict, Current().offset);
    JINJA_RETURN_IF_ERROR(ExpectOp("{"));
    while (!IsOp(Current(), "}")) {
      if (!node->items.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(Current(), "}")) break;
      JINJA_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
      JINJA_RETURN_IF_ERROR(ExpectOp(":"));
      JINJA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      node->items.push_back(std::move(key));
      node->items.push_back(std::move(value));
    }
    JINJA_RETURN_IF_ERROR(ExpectOp("}"));
    JINJA_RETURN_IF_ERROR(Seal(node.get()));
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(Current(), ".") || IsOp(Current(), "[")) {
        JINJA_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp(Current(), "(")) {
        JINJA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp(Current(), "|")) {
        JINJA_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
      } else if (IsName(Current(), "is")) {
        JINJA_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp(Current(), "(")) {
        JINJA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node) {
    const Token token = Current();
    Next();
    if (token.text == ".") {
      const Token& attr = Current();
      if (attr.kind == TokenKind::kName) {
        ExprPtr get = MakeExpr(ExprKind::kGetAttr, token.offset);
        get->object = std::move(node);
        get->name = attr.text;
        Next();
        JINJA_RETURN_IF_ERROR(Seal(get.get()));
        return get;
      }
      if (attr.kind != TokenKind::kInteger) return Error(attr, "expected name or number");
      ExprPtr get = MakeExpr(ExprKind::kGetItem, token.offset);
      get->object = std::move(node);
      get->index = MakeExpr(ExprKind::kConst, attr.offset);
      get->index->constant = Value::Int(attr.integer);
      Next();
      JINJA_RETURN_IF_ERROR(Seal(get.get()));
      return get;
    }
    ExprPtr get = MakeExpr(ExprKind::kGetItem, token.offset);
    get->object = std::move(node);
    std::vector<ExprPtr> keys;
    while (!IsOp(Current(), "]")) {
      if (!keys.empty()) JINJA_RETURN_IF_ERROR(ExpectOp(","));
      JINJA_ASSIGN_OR_RETURN(ExprPtr key, ParseSubscribed());
      keys.push_back(std::move(key));
    }
    JINJA_RETURN_IF_ERROR(ExpectOp("]"));
    if (keys.size() == 1) {
      get->index = std::move(keys[0]);
    } else {
      get->index = MakeExpr(ExprKind::kTuple, token.offset);
      get->index->items = std::move(keys);
      JINJA_RETURN_IF_ERROR(Seal(get->index.get()));
    }
    JINJA_RETURN_IF_ERROR(Seal(get.get()));
    return get;
  }

  // An index or a slice [start:stop:step] (each part optional).
  absl::StatusOr<ExprPtr> ParseSubscribed() {
    const uint32_t offset = Current().offset;
    ExprPtr slice = MakeExpr(ExprKind::kSlice, offset);
    if (SkipOp(":")) {
      slice->items.push_back(nullptr);
    } else {
      JINJA_ASSIGN_OR_RETURN(ExprPtr start, ParseExpression(true));
      if (!SkipOp(":")) return start;
      slice->items.push_back(std::move(start));
    }
    if (IsOp(Current(), ":") || IsOp(Current(), "]") || IsOp(Current(), ",")) {
      slice->items.push_back(nullptr);
    } else {
      JINJA_ASSIGN_OR_RETURN(ExprPtr stop, ParseExpression(true));
      slice->items.push_back(std::move(stop));
    }
    if (SkipOp(":") && !IsOp(Current(), "]") && !IsOp(Current(), ",")) {
      JINJA_ASSIGN_OR_RETURN(ExprPtr step, ParseExpression(true));
      slice->items.push_back(std::move(step));
    } else {
      slice->items.push_back(nullptr);
    }
    JINJA_RETURN_IF_ERROR(Seal(slice.get()));
    return slice;
  }

  absl::StatusOr<Args> ParseArgs() {
    const uint32_t offset = Current().offset;
    JINJA_RETURN_IF_ERROR(ExpectOp("("));
    Args args;
    bool require_comma = false;
    auto invalid = [&]() { return Error(offset, "invalid syntax for function call expression"); };
    while (!IsOp(Current(), ")")) {
      if (require_comma) {
        JINJA_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Current(), ")")) break;
      }
      if (IsOp(Current(), "*")) {
        if (args.star_args != nullptr || args.star_kwargs != nullptr) return invalid();
        Next();
        JINJA_ASSIGN_OR_RETURN(args.star_args, ParseExpression(true));
      } else if (IsOp(Current(), "**")) {
        if (args.star_kwargs != nullptr) return invalid();
        Next();
        JINJA_ASSIGN_OR_RETURN(args.star_kwargs, ParseExpression(true));
      } else if (Current().kind == TokenKind::kName && IsOp(Look(), "=")) {
        if (args.star_kwargs != nullptr) return invalid();
        std::string key = Current().text;
        Next();
        Next();
        JINJA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args.keyword.emplace_back(std::move(key), std::move(value));
      } else {
        if (args.star_args != nullptr || args.star_kwargs != nullptr || !args.keyword.empty()) {
          return invalid();
        }
        JINJA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args.positional.push_back(std::move(value));
      }
      require_comma = true;
    }
    JINJA_RETURN_IF_ERROR(ExpectOp(")"));
    return args;
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    ExprPtr call = MakeExpr(ExprKind::kCall, Current().offset);
    call->object = std::move(callee);
    JINJA_ASSIGN_OR_RETURN(call->args, ParseArgs());
    JINJA_RETURN_IF_ERROR(Seal(call.get()));
    return call;
  }

  absl::StatusOr<std::string> ParseDottedName() {
    JINJA_ASSIGN_OR_RETURN(std::string name, ExpectAnyName());
    while (SkipOp(".")) {
      JINJA_ASSIGN_OR_RETURN(std::string part, ExpectAnyName());
      absl::StrAppend(&name, ".", part);
    }
    return name;
  }

  // `|name(args)` chains; `start_inline` begins with the name ({% filter name %}).
  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr node, bool start_inline) {
    while (IsOp(Current(), "|") || start_inline) {
      if (!start_inline) Next();
      start_inline = false;
      const uint32_t offset = Current().offset;
      JINJA_ASSIGN_OR_RETURN(std::string name, ParseDottedName());
      ExprPtr filter = MakeExpr(ExprKind::kFilter, offset);
      filter->name = std::move(name);
      filter->object = std::move(node);
      if (IsOp(Current(), "(")) {
        JINJA_ASSIGN_OR_RETURN(filter->args, ParseArgs());
      }
      JINJA_RETURN_IF_ERROR(Seal(filter.get()));
      node = std::move(filter);
    }
    return node;
  }

  absl::StatusOr<ExprPtr> ParseTest(ExprPtr node) {
    const uint32_t offset = Current().offset;
    Next();
    ExprPtr test = MakeExpr(ExprKind::kTest, offset);
    test->negated = SkipName("not");
    JINJA_ASSIGN_OR_RETURN(test->name, ParseDottedName());
    test->object = std::move(node);
    const Token& next = Current();
    if (IsOp(next, "(")) {
      JINJA_ASSIGN_OR_RETURN(test->args, ParseArgs());
    } else if ((next.kind == TokenKind::kName || next.kind == TokenKind::kString ||
                next.kind == TokenKind::kInteger || next.kind == TokenKind::kFloat ||
                IsOp(next, "[") || IsOp(next, "{")) &&
               !IsName(next, "else") && !IsName(next, "or") && !IsName(next, "and")) {
      if (IsName(next, "is")) return Error(next, "You cannot chain multiple tests with is");
      JINJA_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      JINJA_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      test->args.positional.push_back(std::move(arg));
    }
    JINJA_RETURN_IF_ERROR(Seal(test.get()));
    return test;
  }

  absl::string_view source_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Template>> ParseTemplate(absl::string_view source) {
  auto result = std::make_unique<Template>();
  result->source = NormalizeSource(source);
  JINJA_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(result->source));
  Parser parser(result->source, std::move(tokens));
  JINJA_ASSIGN_OR_RETURN(result->body, parser.ParseAll());
  JINJA_RETURN_IF_ERROR(CheckNames(result->body, result->source));
  return result;
}

}  // namespace trustformers::tokenizers::jinja
