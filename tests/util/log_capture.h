// Test helper: captures libinfer's log lines while alive (the library's one sink, redirected).
#ifndef INFER_TESTS_UTIL_LOG_CAPTURE_H_
#define INFER_TESTS_UTIL_LOG_CAPTURE_H_

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "infer/log.h"

namespace infer::testing {

class LogCapture {
 public:
  LogCapture() {
    SetLogSink([this](LogSeverity, std::string_view m) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(m);
    });
  }
  ~LogCapture() { SetLogSink({}); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every line so far, each ended by a newline.
  std::string All() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace infer::testing

#endif  // INFER_TESTS_UTIL_LOG_CAPTURE_H_
