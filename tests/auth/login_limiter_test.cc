// The failed-login limiter with an injected clock: bursts, retry-after, decay, bounded memory.
#include "libinfer/auth/login_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace infer::auth {
namespace {

LoginLimitOptions Options() {
  LoginLimitOptions o;
  o.username_burst = 3;
  o.username_refill_seconds = 10;
  o.address_burst = 5;
  o.address_refill_seconds = 2;
  o.max_tracked = 100;
  return o;
}

TEST(LoginLimiterTest, UsernameBurstThenRetryAfter) {
  LoginLimiter l(Options());
  int64_t t = 1'000'000;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(l.Check("alice", "", t), 0) << i;
    l.RecordFailure("alice", "", t);
  }
  EXPECT_EQ(l.Check("alice", "", t), 10);
  EXPECT_EQ(l.Check("bob", "", t), 0);  // other users are not affected
  // The limit decays: after 4 s, 6 s remain; after 10 s one attempt is back.
  EXPECT_EQ(l.Check("alice", "", t + 4000), 6);
  EXPECT_EQ(l.Check("alice", "", t + 10000), 0);
  l.RecordFailure("alice", "", t + 10000);
  EXPECT_EQ(l.Check("alice", "", t + 10000), 10);
}

TEST(LoginLimiterTest, NeverLockedOutForLongerThanOneRefill) {
  LoginLimiter l(Options());
  int64_t t = 0;
  // An attacker hammering for an hour: every refused attempt takes nothing, so the owner never
  // waits more than the refill interval.
  for (int i = 0; i < 3600; ++i, t += 1000) {
    EXPECT_LE(l.Check("alice", "", t), 10);
    if (l.Check("alice", "", t) == 0) l.RecordFailure("alice", "", t);
  }
  EXPECT_LE(l.Check("alice", "", t), 10);
  EXPECT_EQ(l.Check("alice", "", t + 10000), 0);
}

TEST(LoginLimiterTest, AddressLimitSpansUsernames) {
  LoginLimiter l(Options());
  const int64_t t = 5000;
  for (int i = 0; i < 5; ++i) {
    const std::string user = "user" + std::to_string(i);
    EXPECT_EQ(l.Check(user, "10.0.0.1", t), 0);
    l.RecordFailure(user, "10.0.0.1", t);
  }
  EXPECT_EQ(l.Check("someone-else", "10.0.0.1", t), 2);
  EXPECT_EQ(l.Check("someone-else", "10.0.0.2", t), 0);
  EXPECT_EQ(l.Check("someone-else", "", t), 0);  // no address: only the username counts
}

TEST(LoginLimiterTest, SuccessResetsTheUsernameButNotTheAddress) {
  LoginLimiter l(Options());
  const int64_t t = 0;
  for (int i = 0; i < 3; ++i) l.RecordFailure("alice", "10.0.0.1", t);
  l.RecordFailure("bob", "10.0.0.1", t);
  l.RecordFailure("carol", "10.0.0.1", t);
  l.RecordSuccess("alice");
  EXPECT_EQ(l.Check("alice", "10.0.0.9", t), 0);
  EXPECT_GT(l.Check("alice", "10.0.0.1", t), 0);
}

TEST(LoginLimiterTest, ClockSteppingBackIsHarmless) {
  LoginLimiter l(Options());
  for (int i = 0; i < 3; ++i) l.RecordFailure("alice", "", 100000);
  EXPECT_EQ(l.Check("alice", "", 50000), 10);  // treated as no time passed
  EXPECT_EQ(l.Check("alice", "", 110000), 0);
}

TEST(LoginLimiterTest, MemoryIsBoundedAndTheAttackedKeySurvivesASpray) {
  LoginLimitOptions o = Options();
  o.max_tracked = 50;
  LoginLimiter l(o);
  const int64_t t = 0;
  for (int i = 0; i < 3; ++i) l.RecordFailure("victim", "", t);
  for (int i = 0; i < 10000; ++i) l.RecordFailure("spray" + std::to_string(i), "", t);
  EXPECT_LE(l.tracked(), 50u);
  EXPECT_EQ(l.Check("victim", "", t), 10);
}

TEST(LoginLimiterTest, LongKeysAreBounded) {
  LoginLimiter l(Options());
  const std::string huge(100000, 'x');
  for (int i = 0; i < 3; ++i) l.RecordFailure(huge, "", 0);
  EXPECT_EQ(l.Check(huge, "", 0), 10);
  EXPECT_EQ(l.Check(huge + "y", "", 0), 0);
}

TEST(LoginLimiterTest, DisabledNeverLimits) {
  LoginLimitOptions o = Options();
  o.enabled = false;
  LoginLimiter l(o);
  for (int i = 0; i < 100; ++i) l.RecordFailure("alice", "10.0.0.1", 0);
  EXPECT_EQ(l.Check("alice", "10.0.0.1", 0), 0);
  EXPECT_EQ(l.tracked(), 0u);
}

}  // namespace
}  // namespace infer::auth
