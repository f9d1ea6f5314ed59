#include "libinfer/engine/stop_matcher.h"

#include <algorithm>

namespace infer {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const std::string& s : stops_) longest_ = std::max(longest_, s.size());
}

StopMatcher::Result StopMatcher::Check(std::string_view text, size_t old_size) const {
  Result r;
  r.safe_end = text.size();
  if (stops_.empty()) return r;
  // A match ending in the new text starts at most longest - 1 bytes before it.
  const size_t from = old_size >= longest_ ? old_size - longest_ + 1 : 0;
  for (const std::string& s : stops_) {
    const size_t at = text.find(s, from);
    if (at != std::string_view::npos && at < r.stop_at) r.stop_at = at;
  }
  if (r.stop_at != std::string::npos) {
    r.safe_end = r.stop_at;
    return r;
  }
  // Hold back the longest suffix that some stop string starts with.
  for (size_t k = std::min(longest_ - 1, text.size()); k > 0; --k) {
    const std::string_view tail = text.substr(text.size() - k);
    const bool prefix = std::any_of(stops_.begin(), stops_.end(), [&](const std::string& s) {
      return s.size() > k && std::string_view(s).substr(0, k) == tail;
    });
    if (prefix) {
      r.safe_end = text.size() - k;
      break;
    }
  }
  return r;
}

}  // namespace infer
