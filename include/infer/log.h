// libinfer — log sink.
//
// The library never prints and never exits. Everything it has to say (warnings about a model
// file, a legacy password hash, load progress) goes through one sink that the host may replace.
// The default sink writes "[libinfer W] message" lines to stderr for kWarning and above.
#ifndef INFER_LOG_H_
#define INFER_LOG_H_

#include <functional>
#include <string_view>

namespace infer {

// Severity of one log message, lowest first.
enum class LogSeverity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives every message at or above the minimum severity. Called from any thread that logs;
// the sink must be thread-safe. `message` has no trailing newline and is valid only for the call.
using LogSink = std::function<void(LogSeverity severity, std::string_view message)>;

// Replaces the process-wide sink; an empty function restores the default stderr sink.
// Thread-safe. Messages already in flight may still reach the previous sink.
void SetLogSink(LogSink sink);

// Messages below `severity` are dropped before formatting. Default: kWarning.
void SetMinLogSeverity(LogSeverity severity);

}  // namespace infer

#endif  // INFER_LOG_H_
