// Failed-login limiter: token buckets per username and per client address.
//
// A pure object (no clock, no locking of its own): callers pass the time and serialise calls.
// Each key owns a bucket of `burst` attempts that refills continuously at one attempt per
// `refill_seconds`. A failed login takes one attempt from the username's bucket and one from the
// address's; while either is below one attempt, Check() answers with the seconds until it
// refills. Refused attempts take nothing, so waiting always helps: no key is ever blocked for
// longer than `refill_seconds` at a time, and nobody can be locked out for good.
//
// Memory is bounded: at most `max_tracked` buckets per kind. Full buckets carry no information
// and are dropped first; if that frees nothing, the fullest eighth of the table goes (the keys
// that failed least), so a spray of fresh names cannot flush the buckets of the names actually
// under attack.
#ifndef INFER_AUTH_LOGIN_LIMITER_H_
#define INFER_AUTH_LOGIN_LIMITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "infer/auth.h"

namespace infer::auth {

class LoginLimiter {
 public:
  explicit LoginLimiter(const LoginLimitOptions& options);

  // Seconds (rounded up, >= 1) until a login for `username` from `address` may be tried, or 0
  // when it may be tried now. An empty `address` is not limited by address. `now_ms` is any
  // monotone millisecond clock; a clock that steps back is treated as standing still.
  int64_t Check(std::string_view username, std::string_view address, int64_t now_ms);

  // Records a failed login for both keys.
  void RecordFailure(std::string_view username, std::string_view address, int64_t now_ms);

  // Forgets the username's failures (a correct password proves the owner is at the keyboard).
  // The address keeps its count: one known account must not let a client reset its limit.
  void RecordSuccess(std::string_view username);

  // Buckets currently remembered (usernames + addresses), for tests and metrics.
  size_t tracked() const { return usernames_.size() + addresses_.size(); }

 private:
  struct Bucket {
    double tokens = 0;       // attempts left, may be fractional while refilling
    int64_t updated_ms = 0;  // when `tokens` was last brought up to date
  };
  class Table {
   public:
    Table(int32_t burst, double refill_seconds, size_t max_tracked);
    int64_t RetryAfterSeconds(std::string_view key, int64_t now_ms);
    void Take(std::string_view key, int64_t now_ms);
    void Erase(std::string_view key);
    size_t size() const { return buckets_.size(); }

   private:
    double Refilled(const Bucket& b, int64_t now_ms) const;
    void MakeRoom(int64_t now_ms);
    static std::string Key(std::string_view key);

    double burst_;
    double refill_ms_;
    size_t max_tracked_;
    absl::flat_hash_map<std::string, Bucket> buckets_;
  };

  bool enabled_;
  Table usernames_;
  Table addresses_;
};

}  // namespace infer::auth

#endif  // INFER_AUTH_LOGIN_LIMITER_H_
