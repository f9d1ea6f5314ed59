// The default KV cache rule: room for max_num_seqs full-context sequences, capped, never less than
// one sequence, and a clear error when one sequence does not fit.
#include "libinfer/engine/kv_budget.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

KvBudgetInputs Inputs(uint64_t one, int seqs, uint64_t cap, uint64_t available = UINT64_MAX) {
  KvBudgetInputs in;
  in.one_sequence_bytes = one;
  in.max_num_seqs = seqs;
  in.ceiling_bytes = cap;
  in.available_bytes = available;
  in.device = "host memory (cgroup v2 limit)";
  in.context_length = 8192;
  return in;
}

TEST(KvBudgetTest, RoomForEverySequenceWhenTheCapAllows) {
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(10 * kMiB, 4, 1000 * kMiB)), 40 * kMiB);
}

TEST(KvBudgetTest, TheCapBindsButNeverBelowOneSequence) {
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(10 * kMiB, 64, 25 * kMiB)), 25 * kMiB);
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(10 * kMiB, 64, 3 * kMiB, 50 * kMiB)), 10 * kMiB);
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(10 * kMiB, 64, 0)), 10 * kMiB);
}

TEST(KvBudgetTest, NeverMoreThanIsAvailable) {
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(10 * kMiB, 64, 1000 * kMiB, 35 * kMiB)), 35 * kMiB);
}

TEST(KvBudgetTest, OneSequenceThatDoesNotFitIsAnErrorNamingTheNumbers) {
  auto b = DefaultKvCacheBytes(Inputs(377 * kMiB, 64, 100 * kMiB, 200 * kMiB));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string m(b.status().message());
  EXPECT_THAT(m, HasSubstr("377.0 MiB for 8192 tokens"));
  EXPECT_THAT(m, HasSubstr("host memory (cgroup v2 limit) has 200.0 MiB free"));
  EXPECT_THAT(m, HasSubstr("--max-model-len"));
}

TEST(KvBudgetTest, HugeProductsSaturateInsteadOfWrapping) {
  const uint64_t one = uint64_t{1} << 62;
  EXPECT_EQ(*DefaultKvCacheBytes(Inputs(one, 64, 5 * kMiB)), one);
}

}  // namespace
}  // namespace infer
