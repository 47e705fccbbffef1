#include "tokenizers/jinja/tree_checks.h"

#include "absl/strings/str_cat.h"
#include "tokenizers/jinja/builtins.h"
#include "tokenizers/jinja/lexer.h"
#include "tokenizers/jinja/status_macros.h"

namespace trustformers::tokenizers::jinja {
namespace {

bool Reads(const Expr* expr, absl::string_view name);
bool Reads(const Body& body, absl::string_view name);

bool ReadsArgs(const Args& args, absl::string_view name) {
  for (const ExprPtr& e : args.positional) {
    if (Reads(e.get(), name)) return true;
  }
  for (const auto& [key, e] : args.keyword) {
    if (Reads(e.get(), name)) return true;
  }
  return Reads(args.star_args.get(), name) || Reads(args.star_kwargs.get(), name);
}

bool Reads(const Expr* expr, absl::string_view name) {
  if (expr == nullptr) return false;
  if (expr->kind == ExprKind::kName && expr->name == name) return true;
  for (const ExprPtr& item : expr->items) {
    if (Reads(item.get(), name)) return true;
  }
  return Reads(expr->object.get(), name) || Reads(expr->index.get(), name) ||
         Reads(expr->other.get(), name) || ReadsArgs(expr->args, name);
}

bool Reads(const Body& body, absl::string_view name) {
  for (const StmtPtr& stmt : body) {
    if (Reads(stmt->expr.get(), name) || Reads(stmt->filter.get(), name) ||
        Reads(stmt->body, name) || Reads(stmt->else_body, name)) {
      return true;
    }
    for (const Branch& branch : stmt->branches) {
      if (Reads(branch.condition.get(), name) || Reads(branch.body, name)) return true;
    }
    for (const ExprPtr& d : stmt->defaults) {
      if (Reads(d.get(), name)) return true;
    }
    for (const auto& [target, value] : stmt->assignments) {
      if (Reads(value.get(), name)) return true;
    }
  }
  return false;
}

class NameChecker {
 public:
  explicit NameChecker(absl::string_view source) : source_(source) {}

  absl::Status Check(const Body& body, bool soft) const {
    for (const StmtPtr& stmt : body) {
      switch (stmt->kind) {
        case StmtKind::kIf:
          for (const Branch& branch : stmt->branches) {
            JINJA_RETURN_IF_ERROR(Check(branch.condition.get(), true));
            JINJA_RETURN_IF_ERROR(Check(branch.body, true));
          }
          JINJA_RETURN_IF_ERROR(Check(stmt->else_body, true));
          break;
        case StmtKind::kFor:
          JINJA_RETURN_IF_ERROR(Check(stmt->expr.get(), soft));
          JINJA_RETURN_IF_ERROR(Check(stmt->filter.get(), false));
          JINJA_RETURN_IF_ERROR(Check(stmt->body, false));
          JINJA_RETURN_IF_ERROR(Check(stmt->else_body, false));
          break;
        case StmtKind::kPrint:
        case StmtKind::kSet:
          JINJA_RETURN_IF_ERROR(Check(stmt->expr.get(), soft));
          break;
        case StmtKind::kCallBlock:
          JINJA_RETURN_IF_ERROR(Check(stmt->expr.get(), soft));
          [[fallthrough]];
        default:
          JINJA_RETURN_IF_ERROR(Check(stmt->filter.get(), false));
          JINJA_RETURN_IF_ERROR(Check(stmt->body, false));
          for (const ExprPtr& value : stmt->defaults) {
            JINJA_RETURN_IF_ERROR(Check(value.get(), false));
          }
          for (const auto& [target, value] : stmt->assignments) {
            JINJA_RETURN_IF_ERROR(Check(value.get(), soft));
          }
          break;
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Check(const Expr* expr, bool soft) const {
    if (expr == nullptr) return absl::OkStatus();
    if (expr->kind == ExprKind::kCondExpr) soft = true;
    if (!soft && expr->kind == ExprKind::kFilter &&
        FilterAvailability(expr->name) == Availability::kUnknown) {
      return ErrorAt(source_, expr->offset, absl::StrCat("No filter named '", expr->name, "'."));
    }
    if (!soft && expr->kind == ExprKind::kTest &&
        TestAvailability(expr->name) == Availability::kUnknown) {
      return ErrorAt(source_, expr->offset, absl::StrCat("No test named '", expr->name, "'."));
    }
    for (const ExprPtr& item : expr->items) JINJA_RETURN_IF_ERROR(Check(item.get(), soft));
    JINJA_RETURN_IF_ERROR(Check(expr->object.get(), soft));
    JINJA_RETURN_IF_ERROR(Check(expr->index.get(), soft));
    JINJA_RETURN_IF_ERROR(Check(expr->other.get(), soft));
    for (const ExprPtr& arg : expr->args.positional) JINJA_RETURN_IF_ERROR(Check(arg.get(), soft));
    for (const auto& [key, arg] : expr->args.keyword) {
      JINJA_RETURN_IF_ERROR(Check(arg.get(), soft));
    }
    JINJA_RETURN_IF_ERROR(Check(expr->args.star_args.get(), soft));
    return Check(expr->args.star_kwargs.get(), soft);
  }

  absl::string_view source_;
};

}  // namespace

bool ReadsName(const Body& body, absl::string_view name) { return Reads(body, name); }

absl::Status CheckNames(const Body& body, absl::string_view source) {
  return NameChecker(source).Check(body, false);
}

}  // namespace trustformers::tokenizers::jinja
