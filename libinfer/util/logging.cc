#include "libinfer/util/logging.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace infer {
namespace {

std::atomic<int> g_min_severity{static_cast<int>(LogSeverity::kWarning)};

struct SinkHolder {
  std::mutex mu;
  std::shared_ptr<const LogSink> sink;  // null: default stderr sink
};

SinkHolder& Holder() {
  static SinkHolder* holder = new SinkHolder();  // never destroyed: logging works during exit
  return *holder;
}

void DefaultSink(LogSeverity severity, std::string_view message) {
  static constexpr char kLetters[] = {'D', 'I', 'W', 'E'};
  const char letter = kLetters[static_cast<int>(severity) & 3];
  std::string line = std::string("[libinfer ") + letter + "] ";
  line.append(message.data(), message.size());
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void SetLogSink(LogSink sink) {
  auto& holder = Holder();
  std::lock_guard<std::mutex> lock(holder.mu);
  holder.sink = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
}

void SetMinLogSeverity(LogSeverity severity) {
  g_min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

namespace internal {

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >= g_min_severity.load(std::memory_order_relaxed);
}

void LogMessage(LogSeverity severity, std::string_view message) {
  std::shared_ptr<const LogSink> sink;
  {
    auto& holder = Holder();
    std::lock_guard<std::mutex> lock(holder.mu);
    sink = holder.sink;
  }
  if (sink) {
    (*sink)(severity, message);
  } else {
    DefaultSink(severity, message);
  }
}

}  // namespace internal
}  // namespace infer
