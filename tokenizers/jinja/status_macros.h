// Early returns for the interpreter, whose every step can fail on template input. Defined here
// rather than shared with backends/ because tokenizers/ depends on no other layer.
#pragma once

#include <utility>

#define JINJA_CONCAT_INNER(a, b) a##b
#define JINJA_CONCAT(a, b) JINJA_CONCAT_INNER(a, b)
#define JINJA_ASSIGN_OR_RETURN_IMPL(lhs, expr, tmp) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = *std::move(tmp)
// JINJA_ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr, returns its status on error,
// else assigns (or declares) lhs with the value.
#define JINJA_ASSIGN_OR_RETURN(lhs, expr) \
  JINJA_ASSIGN_OR_RETURN_IMPL(lhs, expr, JINJA_CONCAT(jinja_status_or_, __LINE__))

// JINJA_RETURN_IF_ERROR(expr): returns the absl::Status `expr` unless it is OK.
#define JINJA_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                  \
    if (absl::Status jinja_status_ = (expr); !jinja_status_.ok()) return jinja_status_; \
  } while (false)
