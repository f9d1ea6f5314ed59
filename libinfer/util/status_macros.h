// Status propagation helpers (Debian's Abseil ships none).
#ifndef INFER_UTIL_STATUS_MACROS_H_
#define INFER_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define INFER_STATUS_CONCAT_INNER(a, b) a##b
#define INFER_STATUS_CONCAT(a, b) INFER_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define INFER_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status infer_status_ = (expr);         \
    if (!infer_status_.ok()) return infer_status_; \
  } while (0)

// `INFER_ASSIGN_OR_RETURN(auto x, Foo());` declares/assigns x from an absl::StatusOr or returns
// its status from the enclosing function.
#define INFER_ASSIGN_OR_RETURN(lhs, rexpr) \
  INFER_ASSIGN_OR_RETURN_IMPL(INFER_STATUS_CONCAT(infer_statusor_, __LINE__), lhs, rexpr)

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration, `statusor` a name
#define INFER_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)

#endif  // INFER_UTIL_STATUS_MACROS_H_
