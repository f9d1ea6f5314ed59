#include "libinfer/auth/login_limiter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "libinfer/util/crypto.h"

namespace infer::auth {
namespace {

// Keys longer than this are remembered by their SHA-256 so one bucket stays small.
constexpr size_t kMaxKeyBytes = 256;

}  // namespace

LoginLimiter::LoginLimiter(const LoginLimitOptions& options)
    : enabled_(options.enabled),
      usernames_(options.username_burst, options.username_refill_seconds, options.max_tracked),
      addresses_(options.address_burst, options.address_refill_seconds, options.max_tracked) {}

int64_t LoginLimiter::Check(std::string_view username, std::string_view address, int64_t now_ms) {
  if (!enabled_) return 0;
  int64_t wait = usernames_.RetryAfterSeconds(username, now_ms);
  if (!address.empty()) wait = std::max(wait, addresses_.RetryAfterSeconds(address, now_ms));
  return wait;
}

void LoginLimiter::RecordFailure(std::string_view username, std::string_view address,
                                 int64_t now_ms) {
  if (!enabled_) return;
  usernames_.Take(username, now_ms);
  if (!address.empty()) addresses_.Take(address, now_ms);
}

void LoginLimiter::RecordSuccess(std::string_view username) {
  if (enabled_) usernames_.Erase(username);
}

LoginLimiter::Table::Table(int32_t burst, double refill_seconds, size_t max_tracked)
    : burst_(std::max<int32_t>(burst, 1)),
      refill_ms_(std::max(refill_seconds, 0.001) * 1000.0),
      max_tracked_(std::max<size_t>(max_tracked, 1)) {}

std::string LoginLimiter::Table::Key(std::string_view key) {
  if (key.size() <= kMaxKeyBytes) return std::string(key);
  auto digest = crypto::Sha256(key);
  // Should hashing fail, a truncated key still bounds memory; collisions only merge limits.
  return digest.ok() ? std::string(crypto::AsBytes(*digest))
                     : std::string(key.substr(0, kMaxKeyBytes));
}

double LoginLimiter::Table::Refilled(const Bucket& b, int64_t now_ms) const {
  const double elapsed = static_cast<double>(std::max<int64_t>(now_ms - b.updated_ms, 0));
  return std::min(burst_, b.tokens + elapsed / refill_ms_);
}

int64_t LoginLimiter::Table::RetryAfterSeconds(std::string_view key, int64_t now_ms) {
  const auto it = buckets_.find(Key(key));
  if (it == buckets_.end()) return 0;
  const double tokens = Refilled(it->second, now_ms);
  if (tokens >= 1.0) return 0;
  const double wait_ms = (1.0 - tokens) * refill_ms_;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_ms / 1000.0)));
}

void LoginLimiter::Table::Take(std::string_view key, int64_t now_ms) {
  std::string k = Key(key);
  auto it = buckets_.find(k);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_tracked_) MakeRoom(now_ms);
    it = buckets_.emplace(std::move(k), Bucket{burst_, now_ms}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::max(0.0, Refilled(b, now_ms) - 1.0);
  b.updated_ms = std::max(b.updated_ms, now_ms);
}

void LoginLimiter::Table::Erase(std::string_view key) { buckets_.erase(Key(key)); }

void LoginLimiter::Table::MakeRoom(int64_t now_ms) {
  // Full buckets are the same as absent ones.
  absl::erase_if(buckets_,
                 [&](const auto& entry) { return Refilled(entry.second, now_ms) >= burst_; });
  if (buckets_.size() < max_tracked_) return;
  // Otherwise drop the fullest eighth: those keys failed least, the limits that matter stay.
  std::vector<std::pair<double, std::string>> by_tokens;
  by_tokens.reserve(buckets_.size());
  for (const auto& [key, bucket] : buckets_) by_tokens.emplace_back(Refilled(bucket, now_ms), key);
  const size_t drop = std::max<size_t>(1, by_tokens.size() / 8);
  std::nth_element(by_tokens.begin(), by_tokens.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                   by_tokens.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < drop; ++i) buckets_.erase(by_tokens[i].second);
}

}  // namespace infer::auth
