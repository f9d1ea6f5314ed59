// Internal logging front end: INFER_LOG(kWarning, "fmt %d", x) formats only when enabled.
#ifndef INFER_UTIL_LOGGING_H_
#define INFER_UTIL_LOGGING_H_

#include <string_view>

#include "absl/strings/str_format.h"
#include "infer/log.h"

namespace infer::internal {

bool LogEnabled(LogSeverity severity);
void LogMessage(LogSeverity severity, std::string_view message);

}  // namespace infer::internal

#define INFER_LOG(severity, ...)                                         \
  do {                                                                   \
    if (::infer::internal::LogEnabled(::infer::LogSeverity::severity)) { \
      ::infer::internal::LogMessage(::infer::LogSeverity::severity,      \
                                    ::absl::StrFormat(__VA_ARGS__));     \
    }                                                                    \
  } while (0)

#endif  // INFER_UTIL_LOGGING_H_
