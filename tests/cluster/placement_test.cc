// Placement as a pure function: hand-made cases, then property tests over random device sets
// and requests (no device overcommitted; a replica's ranks on distinct devices of its kind; a
// refusal only when no device set has the room at that point; max places what the arithmetic
// says; the same input gives the same plan).
#include "libinfer/cluster/placement.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer::cluster {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kGiB = uint64_t{1} << 30;

DeviceCapacity Gpu(int i, uint64_t total, uint64_t others = 0, uint64_t reserved = 0) {
  return {absl::StrCat("cuda:", i), DeviceKind::kCuda, total, others, reserved};
}

ReplicaRequest Model(std::string name, uint64_t bytes, int replicas = 1, int ranks = 1,
                     DeviceKind kind = DeviceKind::kCuda) {
  ReplicaRequest r;
  r.model = std::move(name);
  r.kind = kind;
  r.bytes_per_rank = bytes;
  r.replicas = replicas;
  r.ranks = ranks;
  return r;
}

TEST(PlacementTest, BestFitPacksSmallReplicasWhereTheyLeaveTheLeastRoom) {
  const std::vector<DeviceCapacity> devices = {Gpu(0, 24 * kGiB), Gpu(1, 24 * kGiB, 16 * kGiB)};
  auto plan = PlanPlacement(devices, std::vector{Model("small", 4 * kGiB, 2)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->replicas.size(), 2u);
  // cuda:1 has 8 GiB left, cuda:0 24: both small replicas go to cuda:1.
  EXPECT_EQ(plan->replicas[0].devices, std::vector<std::string>{"cuda:1"});
  EXPECT_EQ(plan->replicas[1].devices, std::vector<std::string>{"cuda:1"});
  EXPECT_EQ(plan->devices[1].available_bytes(), 0u);
  EXPECT_EQ(plan->devices[0].available_bytes(), 24 * kGiB);
}

TEST(PlacementTest, AReplicaSpansDistinctDevices) {
  const std::vector<DeviceCapacity> devices = {Gpu(0, 80 * kGiB), Gpu(1, 80 * kGiB),
                                               Gpu(2, 80 * kGiB)};
  auto plan = PlanPlacement(devices, std::vector{Model("big", 70 * kGiB, 1, 2)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->replicas.size(), 1u);
  EXPECT_THAT(plan->replicas[0].devices, ::testing::ElementsAre("cuda:0", "cuda:1"));
  // A second one would need two devices with 70 GiB: only cuda:2 has it.
  auto two = PlanPlacement(devices, std::vector{Model("big", 70 * kGiB, 2, 2)});
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(two.status().message(), HasSubstr("model 'big' replica 1 does not fit"));
  EXPECT_THAT(two.status().message(), HasSubstr("2 devices with 70.00 GiB free each"));
  EXPECT_THAT(two.status().message(), HasSubstr("cuda:0 has 10.00 GiB of 80.00 GiB"));
}

TEST(PlacementTest, FixedCountsComeBeforeMaxAndMaxFillsTheRest) {
  const std::vector<DeviceCapacity> devices = {Gpu(0, 24 * kGiB), Gpu(1, 24 * kGiB)};
  ReplicaRequest many = Model("fast", 3 * kGiB);
  many.max_replicas = true;
  // Listed first, placed last: the chat model's two replicas are placed before "fast" grows.
  auto plan = PlanPlacement(devices, std::vector{many, Model("chat", 10 * kGiB, 2)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::map<std::string, int> count;
  for (const PlacedReplica& p : plan->replicas) ++count[p.model];
  EXPECT_EQ(count["chat"], 2);
  // Best fit put both chat replicas on cuda:0 (4 GiB left there, 24 on cuda:1): "fast" gets
  // floor(4 / 3) + floor(24 / 3) = 1 + 8 replicas, what the arithmetic says.
  EXPECT_EQ(count["fast"], 9);
  for (const PlacedReplica& p : plan->replicas) {
    if (p.model == "chat") {
      EXPECT_EQ(p.devices[0], "cuda:0");
    }
  }
}

TEST(PlacementTest, AllOrNothingAndTheReasonNamesWhatIsLeft) {
  const std::vector<DeviceCapacity> devices = {Gpu(0, 16 * kGiB, 2 * kGiB, 4 * kGiB)};
  auto plan = PlanPlacement(devices, std::vector{Model("a", 5 * kGiB), Model("b", 6 * kGiB)});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("model 'b' replica 0 does not fit"));
  EXPECT_THAT(plan.status().message(), HasSubstr("cuda:0 has 5.00 GiB of 16.00 GiB"));
  ReplicaRequest none = Model("c", 20 * kGiB);
  none.max_replicas = true;
  EXPECT_EQ(PlanPlacement(devices, std::vector{none}).status().code(),
            absl::StatusCode::kResourceExhausted);
  // A kind with no device at all says so.
  auto host = PlanPlacement(devices, std::vector{Model("h", kGiB, 1, 1, DeviceKind::kHost)});
  EXPECT_THAT(host.status().message(), HasSubstr("there is no host device"));
}

TEST(PlacementTest, MalformedRequestsAreRefusedByName) {
  const std::vector<DeviceCapacity> devices = {Gpu(0, 16 * kGiB)};
  EXPECT_THAT(
      PlanPlacement(devices, std::vector{Model("a", kGiB), Model("a", kGiB)}).status().message(),
      HasSubstr("model 'a': named twice"));
  EXPECT_THAT(PlanPlacement(devices, std::vector{Model("z", 0)}).status().message(),
              HasSubstr("model 'z': a replica must cost some memory"));
  EXPECT_THAT(PlanPlacement(devices, std::vector{Model("r", kGiB, 1, 0)}).status().message(),
              HasSubstr("ranks must be >= 1"));
  EXPECT_THAT(PlanPlacement(devices, std::vector{Model("n", kGiB, -1)}).status().message(),
              HasSubstr("replicas must be >= 0"));
  const std::vector<DeviceCapacity> twice = {Gpu(0, kGiB), Gpu(0, kGiB)};
  EXPECT_THAT(PlanPlacement(twice, std::vector{Model("a", 1)}).status().message(),
              HasSubstr("device 'cuda:0' is listed twice"));
  // Others using more than the device has leave nothing, not a wrapped-around number.
  EXPECT_EQ(Gpu(0, kGiB, 2 * kGiB).available_bytes(), 0u);
}

// ---- Properties -----------------------------------------------------------------------------

struct Case {
  std::vector<DeviceCapacity> devices;
  std::vector<ReplicaRequest> requests;
};

Case RandomCase(std::mt19937_64& rng) {
  auto pick = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  Case c;
  const int gpus = static_cast<int>(pick(0, 6));
  // A third of the nodes have identical idle GPUs (as an 8 x H100 node does): placement's ties
  // must break the same way every time.
  const bool uniform = pick(0, 2) == 0;
  const uint64_t uniform_total = pick(1, 80) * kGiB;
  for (int i = 0; i < gpus; ++i) {
    if (uniform) {
      c.devices.push_back(Gpu(i, uniform_total, 0, 0));
      continue;
    }
    const uint64_t total = pick(1, 80) * kGiB;
    c.devices.push_back(Gpu(i, total, pick(0, total / 2), pick(0, total / 4)));
  }
  const uint64_t host = pick(1, 64) * kGiB;
  c.devices.push_back({"host", DeviceKind::kHost, host, pick(0, host / 2), 0});
  const int models = static_cast<int>(pick(1, 5));
  for (int m = 0; m < models; ++m) {
    ReplicaRequest r = Model(absl::StrCat("m", m), pick(1, 40) * kGiB / 4,
                             static_cast<int>(pick(0, 4)), static_cast<int>(pick(1, 3)),
                             pick(0, 3) == 0 ? DeviceKind::kHost : DeviceKind::kCuda);
    if (r.kind == DeviceKind::kHost) r.ranks = 1;
    r.max_replicas = pick(0, 4) == 0;
    c.requests.push_back(r);
  }
  return c;
}

// Whether some r.ranks devices of r's kind each have r.bytes_per_rank available.
bool Fits(const std::vector<DeviceCapacity>& devices, const ReplicaRequest& r) {
  int n = 0;
  for (const DeviceCapacity& d : devices) {
    n += d.kind == r.kind && d.available_bytes() >= r.bytes_per_rank;
  }
  return n >= r.ranks;
}

// The requests placed before the replica a refusal names: every fixed request before it (and,
// when the refused one is a max request, every fixed one and the max ones before it), and the
// refused model's own replicas before that one.
std::vector<ReplicaRequest> PrefixBefore(const std::vector<ReplicaRequest>& requests,
                                         const std::string& model, int replica) {
  std::vector<ReplicaRequest> prefix;
  const auto refused = std::find_if(requests.begin(), requests.end(),
                                    [&](const ReplicaRequest& r) { return r.model == model; });
  for (auto it = requests.begin(); it != requests.end(); ++it) {
    if (it == refused) continue;
    const bool before = it < refused;
    if (refused->max_replicas ? (!it->max_replicas || before) : (!it->max_replicas && before)) {
      prefix.push_back(*it);
    }
  }
  if (!refused->max_replicas) {
    ReplicaRequest r = *refused;
    r.replicas = replica;
    prefix.push_back(r);
  }
  return prefix;
}

TEST(PlacementPropertyTest, RandomSetsNeverOvercommitAndRefuseOnlyWhatCannotFit) {
  std::mt19937_64 rng(20261202);
  int refused = 0, placed_sets = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const Case c = RandomCase(rng);
    absl::StatusOr<Plan> plan = PlanPlacement(c.devices, c.requests);
    absl::StatusOr<Plan> again = PlanPlacement(c.devices, c.requests);
    // Deterministic: the same input gives the same plan, replica by replica and device by
    // device, or the same refusal.
    ASSERT_EQ(plan.ok(), again.ok());
    if (!plan.ok()) {
      ASSERT_EQ(plan.status(), again.status());
    }
    if (plan.ok()) {
      ASSERT_EQ(again->replicas.size(), plan->replicas.size());
      for (size_t i = 0; i < plan->replicas.size(); ++i) {
        EXPECT_EQ(again->replicas[i].model, plan->replicas[i].model) << "trial " << trial;
        EXPECT_EQ(again->replicas[i].replica, plan->replicas[i].replica) << "trial " << trial;
        EXPECT_EQ(again->replicas[i].devices, plan->replicas[i].devices) << "trial " << trial;
      }
      ASSERT_EQ(again->devices.size(), plan->devices.size());
      for (size_t d = 0; d < plan->devices.size(); ++d) {
        EXPECT_EQ(again->devices[d].reserved_bytes, plan->devices[d].reserved_bytes);
      }
    }
    if (!plan.ok()) {
      // A refusal: everything before the refused replica fits, and that replica does not.
      ++refused;
      ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted) << plan.status();
      const std::string msg(plan.status().message());
      const size_t a = msg.find("model '") + 7, b = msg.find("' replica ");
      ASSERT_NE(b, std::string::npos) << msg;
      const std::string model = msg.substr(a, b - a);
      const int replica = std::stoi(msg.substr(b + 10));
      absl::StatusOr<Plan> before =
          PlanPlacement(c.devices, PrefixBefore(c.requests, model, replica));
      ASSERT_TRUE(before.ok()) << "trial " << trial << ": " << before.status();
      const ReplicaRequest& r =
          *std::find_if(c.requests.begin(), c.requests.end(),
                        [&](const ReplicaRequest& x) { return x.model == model; });
      EXPECT_FALSE(Fits(before->devices, r))
          << "trial " << trial << ": refused " << model << " replica " << replica
          << " though it fits: " << msg;
      continue;
    }
    // Replay the plan: fixed counts, then max, replica by replica, each against the devices as
    // they stand; a max request stops only when the next replica cannot fit.
    ++placed_sets;
    std::vector<DeviceCapacity> state = c.devices;
    size_t next = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (const ReplicaRequest& r : c.requests) {
        if (r.max_replicas != (pass == 1)) continue;
        for (int i = 0; r.max_replicas || i < r.replicas; ++i) {
          if (r.max_replicas && !Fits(state, r)) {
            EXPECT_GT(i, 0) << "trial " << trial;
            break;
          }
          ASSERT_LT(next, plan->replicas.size()) << "trial " << trial;
          const PlacedReplica& p = plan->replicas[next++];
          ASSERT_EQ(p.model, r.model);
          ASSERT_EQ(p.replica, i);
          ASSERT_EQ(p.devices.size(), static_cast<size_t>(r.ranks));
          const std::set<std::string> distinct(p.devices.begin(), p.devices.end());
          ASSERT_EQ(distinct.size(), p.devices.size()) << "trial " << trial;
          for (const std::string& id : p.devices) {
            auto d = std::find_if(state.begin(), state.end(),
                                  [&](const DeviceCapacity& x) { return x.id == id; });
            ASSERT_NE(d, state.end());
            ASSERT_EQ(d->kind, r.kind);
            ASSERT_GE(d->available_bytes(), r.bytes_per_rank) << "overcommitted " << id;
            d->reserved_bytes += r.bytes_per_rank;
          }
        }
      }
    }
    EXPECT_EQ(next, plan->replicas.size());
    for (size_t d = 0; d < state.size(); ++d) {
      EXPECT_EQ(plan->devices[d].reserved_bytes, state[d].reserved_bytes);
      // Never more than was available before the plan.
      EXPECT_LE(plan->devices[d].reserved_bytes - c.devices[d].reserved_bytes,
                c.devices[d].available_bytes());
    }
  }
  // Both outcomes were exercised.
  EXPECT_GT(refused, 100);
  EXPECT_GT(placed_sets, 100);
}

}  // namespace
}  // namespace infer::cluster
