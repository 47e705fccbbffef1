// TF_ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr expression, returns its status from
// the enclosing function on error, else assigns (or declares) lhs with the value.
#pragma once

#include <utility>

#define TF_STATUS_MACROS_CONCAT_INNER(a, b) a##b
#define TF_STATUS_MACROS_CONCAT(a, b) TF_STATUS_MACROS_CONCAT_INNER(a, b)
#define TF_ASSIGN_OR_RETURN_IMPL(lhs, expr, tmp) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = *std::move(tmp)
#define TF_ASSIGN_OR_RETURN(lhs, expr) \
  TF_ASSIGN_OR_RETURN_IMPL(lhs, expr, TF_STATUS_MACROS_CONCAT(status_or_value_, __LINE__))

// TF_RETURN_IF_ERROR(expr): returns the absl::Status `expr` from the enclosing function unless OK.
#define TF_RETURN_IF_ERROR(expr)                                               \
  do {                                                                         \
    if (absl::Status tf_status_ = (expr); !tf_status_.ok()) return tf_status_; \
  } while (false)
