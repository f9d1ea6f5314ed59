// The one guard of every thread the library starts (and of every host callback it calls): an
// exception that escapes the guarded code is logged with the thread's name and becomes a Status
// for the work it affected, instead of std::terminate taking the process down.
#ifndef INFER_UTIL_THREAD_GUARD_H_
#define INFER_UTIL_THREAD_GUARD_H_

#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"

namespace infer {

// Inside a catch block: InternalError "<where>: <what()>" for the exception being handled (or
// "unknown exception"), logged once as an error.
absl::Status CurrentExceptionStatus(std::string_view where);

// Runs `body()`; OK when it returns, CurrentExceptionStatus(where) when it throws. `where` is
// text, or a callable that makes the text only when it is needed (a guard on a hot path, such as
// a per-token callback, then costs no string when nothing throws).
template <typename Where, typename Body>
absl::Status RunGuarded(Where&& where, Body&& body) {
  try {
    std::forward<Body>(body)();
    return absl::OkStatus();
  } catch (...) {
    if constexpr (std::is_invocable_v<Where>) {
      return CurrentExceptionStatus(where());
    } else {
      return CurrentExceptionStatus(where);
    }
  }
}

}  // namespace infer

#endif  // INFER_UTIL_THREAD_GUARD_H_
