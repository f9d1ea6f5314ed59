#include "libinfer/grammar/cache.h"

#include <list>
#include <mutex>
#include <utility>

namespace infer::grammar {

absl::StatusOr<std::shared_ptr<const Grammar>> CachedGrammar(
    const std::string& key,
    const std::function<absl::StatusOr<std::shared_ptr<const Grammar>>()>& make) {
  // Most recently used first; small: a server sees few distinct schemas at a time.
  constexpr size_t kCapacity = 32;
  static auto* mu = new std::mutex();
  static auto* entries = new std::list<std::pair<std::string, std::shared_ptr<const Grammar>>>();
  {
    std::lock_guard<std::mutex> lock(*mu);
    for (auto it = entries->begin(); it != entries->end(); ++it) {
      if (it->first == key) {
        entries->splice(entries->begin(), *entries, it);
        return entries->front().second;
      }
    }
  }
  absl::StatusOr<std::shared_ptr<const Grammar>> made = make();  // outside the lock
  if (!made.ok()) return made;
  std::lock_guard<std::mutex> lock(*mu);
  entries->emplace_front(key, *made);
  if (entries->size() > kCapacity) entries->pop_back();
  return made;
}

}  // namespace infer::grammar
