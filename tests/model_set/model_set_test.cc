// The model registry on tiny generated models: plans reserve what the cost says and never more
// than the host limit, a refused change leaves everything as it was, `max` places what the
// arithmetic says, requests go to the least busy replica, and a scale-down drains first.
#include "infer/model_set.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tiny_model.h"

namespace infer {
namespace {

using ::testing::HasSubstr;

class ModelSetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("infer_model_set_registry_" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
    testing::WriteTinyModel((*dir_ / "a.gguf").string(), {}, 1);
    testing::TinyModelShape wide;
    wide.hidden = 128;
    wide.ff = 256;
    testing::WriteTinyModel((*dir_ / "b.gguf").string(), wide, 2);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static ModelSpec Spec(const std::string& name, const std::string& file, int replicas) {
    ModelSpec m;
    m.name = name;
    m.path = (*dir_ / file).string();
    m.replicas = replicas;
    m.threads = 1;
    m.scheduler.max_num_seqs = 4;
    m.scheduler.max_num_batched_tokens = 64;
    return m;
  }

  // A set whose host holds `limit` bytes.
  static std::unique_ptr<ModelSet> NewSet(uint64_t limit) {
    ModelSetOptions o;
    o.host_memory_limit_bytes = limit;
    o.runtime_bytes = 1 << 20;
    o.drain_timeout = std::chrono::seconds(20);
    auto set = ModelSet::Create(o);
    EXPECT_TRUE(set.ok()) << set.status();
    return std::move(*set);
  }

  // What one replica of `m` reserves, as planned on an empty, roomy set.
  static uint64_t CostOf(const ModelSpec& m) {
    auto plan = NewSet(uint64_t{64} << 30)->Plan({{m}});
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan->loads.at(0).bytes_per_rank;
  }

  static std::string Generate(ReplicaLease& lease, int max_tokens) {
    Request r;
    r.prompt = lease.model().tokenizer().Encode("hello").value();
    r.sampling.max_tokens = max_tokens;
    r.sampling.temperature = 0;
    r.sampling.ignore_eos = true;
    auto handle = lease.scheduler().Submit(std::move(r));
    EXPECT_TRUE(handle.ok()) << handle.status();
    const RequestResult& result = handle->Wait();
    EXPECT_EQ(result.finish_reason, FinishReason::kLength);
    return result.text;
  }

  static uint64_t Reserved(const ModelSetState& s) {
    for (const DeviceState& d : s.devices) {
      if (d.id == "host") return d.reserved_bytes;
    }
    return 0;
  }

  static std::filesystem::path* dir_;
};

std::filesystem::path* ModelSetTest::dir_ = nullptr;

TEST_F(ModelSetTest, AppliesASetAndServesEachModelByName) {
  const ModelSpec a = Spec("alpha", "a.gguf", 2);
  const ModelSpec b = Spec("beta", "b.gguf", 1);
  const uint64_t cost_a = CostOf(a), cost_b = CostOf(b);
  EXPECT_GT(cost_b, cost_a);  // the wider model costs more
  auto set = NewSet(uint64_t{8} << 30);
  auto plan = set->Apply({{a, b}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->loads.size(), 3u);
  EXPECT_TRUE(plan->unloads.empty());
  EXPECT_THAT(plan->Describe(), HasSubstr("load alpha/1 on host"));
  EXPECT_EQ(set->names(), (std::vector<std::string>{"alpha", "beta"}));

  const ModelSetState state = set->State();
  ASSERT_EQ(state.models.size(), 2u);
  EXPECT_EQ(state.models[0].replicas.size(), 2u);
  EXPECT_EQ(state.models[1].replicas.size(), 1u);
  EXPECT_EQ(state.models[0].context_length, 2048);
  EXPECT_EQ(Reserved(state), 2 * cost_a + cost_b);
  EXPECT_THAT(state.models[0].replicas[0].cost, HasSubstr("weights"));

  for (const char* name : {"alpha", "beta"}) {
    auto lease = set->Acquire(name);
    ASSERT_TRUE(lease.ok()) << lease.status();
    EXPECT_EQ(lease->model_name(), name);
    EXPECT_FALSE(Generate(*lease, 4).empty());
  }
  // Each name reaches its own model.
  EXPECT_EQ(set->Acquire("alpha")->model().info().hidden_size, 64);
  EXPECT_EQ(set->Acquire("beta")->model().info().hidden_size, 128);

  auto unknown = set->Acquire("gamma");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("`gamma` does not exist (served: `alpha`"));
}

TEST_F(ModelSetTest, RoutesToTheLeastBusyReplicaAndTiesInTurn) {
  auto set = NewSet(uint64_t{8} << 30);
  ASSERT_TRUE(set->Apply({{Spec("alpha", "a.gguf", 2)}}).ok());
  auto first = set->Acquire("alpha");
  ASSERT_TRUE(first.ok());
  // While the first is held, the other replica is the less busy one, every time.
  for (int i = 0; i < 3; ++i) {
    auto other = set->Acquire("alpha");
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->replica_index(), first->replica_index());
  }
  first->Release();
  // Idle replicas take turns.
  std::vector<int> order;
  for (int i = 0; i < 4; ++i) order.push_back(set->Acquire("alpha")->replica_index());
  EXPECT_NE(order[0], order[1]);
  EXPECT_EQ(order[0], order[2]);
  EXPECT_EQ(order[1], order[3]);
  EXPECT_EQ(set->State().models[0].replicas[0].outstanding, 0);
}

TEST_F(ModelSetTest, ARefusedChangeChangesNothing) {
  const ModelSpec a = Spec("alpha", "a.gguf", 1);
  const ModelSpec b = Spec("beta", "b.gguf", 1);
  const uint64_t cost_a = CostOf(a), cost_b = CostOf(b);
  // Room for alpha and beta, not for a second beta.
  auto set = NewSet(cost_a + cost_b + cost_b / 2);
  ASSERT_TRUE(set->Apply({{a, b}}).ok());
  const ModelSetState before = set->State();
  ModelSpec two_b = b;
  two_b.replicas = 2;
  auto refused = set->Deploy(two_b);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("beta"));
  auto scaled = set->Scale("beta", 2);
  EXPECT_EQ(scaled.status().code(), absl::StatusCode::kResourceExhausted);
  // The plan alone says the same and loads nothing.
  ModelSetSpec bigger{{a, two_b}};
  EXPECT_EQ(set->Plan(bigger).status().code(), absl::StatusCode::kResourceExhausted);
  const ModelSetState after = set->State();
  EXPECT_EQ(Reserved(after), Reserved(before));
  ASSERT_EQ(after.models.size(), 2u);
  EXPECT_EQ(after.models[1].replicas.size(), 1u);
  EXPECT_TRUE(set->Acquire("beta").ok());
  // Freeing alpha's room makes the second beta fit: removals are planned before loads.
  ModelSpec three_b = b;
  three_b.replicas = 2;
  auto swapped = set->Apply({{three_b}});
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(swapped->unloads.size(), 1u);
  EXPECT_EQ(swapped->loads.size(), 1u);
  EXPECT_EQ(set->names(), (std::vector<std::string>{"beta"}));
  EXPECT_EQ(Reserved(set->State()), 2 * cost_b);
}

TEST_F(ModelSetTest, MaxPlacesWhatTheArithmeticSays) {
  ModelSpec a = Spec("alpha", "a.gguf", 1);
  const uint64_t cost = CostOf(a);
  a.max_replicas = true;
  for (uint64_t n : {1, 3}) {
    auto set = NewSet(n * cost + cost / 2);
    auto plan = set->Plan({{a}});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->loads.size(), n);
  }
  auto none = NewSet(cost / 2)->Plan({{a}});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ModelSetTest, ADeclaredFigureLargerThanTheCostIsReserved) {
  ModelSpec a = Spec("alpha", "a.gguf", 1);
  const uint64_t cost = CostOf(a);
  a.memory_bytes = 2 * cost;
  EXPECT_EQ(CostOf(a), 2 * cost);
  a.memory_bytes = cost / 2;
  EXPECT_EQ(CostOf(a), cost);
}

TEST_F(ModelSetTest, TheDefaultKvCacheHoldsMaxNumSeqsFullContextsUpToTheCap) {
  // The tiny model: 2 layers x 2 KV heads x 16 dims x (K, V) x 4 bytes = 512 bytes a position.
  ModelSpec a = Spec("alpha", "a.gguf", 1);
  auto kv_of = [&](const ModelSpec& m, uint64_t cap) {
    ModelSetOptions o;
    o.host_memory_limit_bytes = uint64_t{64} << 30;
    o.default_kv_cache_bytes = cap;
    auto plan = (*ModelSet::Create(o))->Plan({{m}});
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan->loads.at(0).cost;
  };
  EXPECT_THAT(kv_of(a, uint64_t{512} << 20), HasSubstr("KV cache 4.0 MiB"));  // 4 x 2048 x 512
  EXPECT_THAT(kv_of(a, uint64_t{2} << 20), HasSubstr("KV cache 2.0 MiB"));    // the cap
  EXPECT_THAT(kv_of(a, 1), HasSubstr("KV cache 1.0 MiB"));  // never below one full context
  a.context_length = 512;
  EXPECT_THAT(kv_of(a, uint64_t{512} << 20), HasSubstr("KV cache 1.0 MiB"));
}

TEST_F(ModelSetTest, AScaleDownDrainsTheRequestsInFlight) {
  auto set = NewSet(uint64_t{8} << 30);
  ASSERT_TRUE(set->Apply({{Spec("alpha", "a.gguf", 2)}}).ok());
  // Replica 1 (the one a scale to one removes) runs a request; replica 0 is made the busier one,
  // so that least-outstanding routing would pick replica 1 were it not draining.
  std::vector<ReplicaLease> held;
  int on[2] = {0, 0};
  while (on[0] < 2 || on[1] < 1) {
    auto lease = set->Acquire("alpha");
    ASSERT_TRUE(lease.ok()) << lease.status();
    const int i = lease->replica_index();
    ASSERT_TRUE(i == 0 || i == 1) << i;
    if (on[i] < (i == 0 ? 2 : 1)) {
      ++on[i];
      held.push_back(*std::move(lease));
    }
  }
  ReplicaLease* leaving = nullptr;
  for (ReplicaLease& l : held) {
    if (l.replica_index() == 1) leaving = &l;
  }
  ASSERT_NE(leaving, nullptr);
  Request r;
  r.prompt = leaving->model().tokenizer().Encode("a long answer").value();
  r.sampling.max_tokens = 200;
  r.sampling.temperature = 0;
  r.sampling.ignore_eos = true;
  auto handle = leaving->scheduler().Submit(std::move(r));
  ASSERT_TRUE(handle.ok());
  std::atomic<bool> scaled{false};
  auto scale = std::async(std::launch::async, [&] {
    auto plan = set->Scale("alpha", 1);
    scaled = true;
    return plan;
  });
  // Once replica 1 drains, no request is routed to it, though it is the less busy one.
  auto draining = [&] {
    const ModelSetState state = set->State();
    for (const ReplicaState& rs : state.models[0].replicas) {
      if (rs.index == 1) return rs.draining;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!draining() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(draining()) << "the scale-down never started draining";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(set->Acquire("alpha")->replica_index(), 0);
  // The request finishes whole; the scale-down waits for its lease.
  const RequestResult& result = handle->Wait();
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
  EXPECT_EQ(result.usage.completion_tokens, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(scaled.load());
  held.clear();  // releases every lease, replica 1's included
  auto plan = scale.get();
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->unloads.size(), 1u);
  EXPECT_EQ(set->State().models[0].replicas.size(), 1u);
}

// A replica's default KV cache follows the same rule as one model's Scheduler: at most a
// quarter (kv_cache_memory_fraction) of the host memory free, here a fake host's.
TEST_F(ModelSetTest, TheDefaultKvCacheFollowsTheFreeMemory) {
  auto planned = [&](uint64_t free_kib) -> uint64_t {
    const std::filesystem::path root = *dir_ / ("root_" + std::to_string(free_kib));
    std::filesystem::create_directories(root / "proc");
    std::ofstream(root / "proc" / "meminfo")
        << "MemTotal: 67108864 kB\nMemAvailable: " << free_kib << " kB\n";
    ModelSetOptions o;
    o.runtime_bytes = 1 << 20;
    o.system_root = root.string();
    o.nvml_library = "";
    auto set = ModelSet::Create(o);
    EXPECT_TRUE(set.ok()) << set.status();
    if (!set.ok()) return 0;
    auto plan = (*set)->Plan({{Spec("alpha", "a.gguf", 1)}});
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? plan->loads.at(0).bytes_per_rank : 0;
  };
  const uint64_t roomy = planned(uint64_t{60} << 20);  // 60 GiB free: the set's 512 MiB ceiling
  const uint64_t tight = planned(uint64_t{8} << 10);   // 8 MiB free: at most 2 MiB of KV
  EXPECT_LT(tight, roomy);
  EXPECT_LT(tight, uint64_t{8} << 20);
}

TEST_F(ModelSetTest, BadSpecsAreRefusedNamingTheEntry) {
  auto set = NewSet(uint64_t{8} << 30);
  ModelSpec missing = Spec("ghost", "missing.gguf", 1);
  missing.origin = "models[0] ('ghost')";
  auto s = set->Apply({{missing}});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("models[0] ('ghost')"));
  ModelSpec tp = Spec("tp", "a.gguf", 1);
  tp.tensor_parallel = 2;
  EXPECT_THAT(set->Plan({{tp}}).status().message(), HasSubstr("single-rank replicas"));
  ModelSpec long_context = Spec("long", "a.gguf", 1);
  long_context.context_length = 4096;
  EXPECT_THAT(set->Plan({{long_context}}).status().message(),
              HasSubstr("context_length 4096 exceeds the model's context length 2048"));
  EXPECT_THAT(set->Plan({{Spec("x", "a.gguf", 1), Spec("x", "b.gguf", 1)}}).status().message(),
              HasSubstr("appears twice"));
  EXPECT_EQ(set->Scale("nobody", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(set->Remove("nobody").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(set->names().empty());
}

TEST_F(ModelSetTest, AdoptedModelsKeepTheirNameAndStayThroughApply) {
  ModelOptions mo;
  mo.path = (*dir_ / "a.gguf").string();
  mo.num_threads = 1;
  auto model = Model::Load(mo);
  ASSERT_TRUE(model.ok());
  SchedulerOptions so;
  so.kv_cache_bytes = 4 << 20;
  auto scheduler = Scheduler::Create(**model, so);
  ASSERT_TRUE(scheduler.ok());
  auto set = NewSet(uint64_t{8} << 30);
  ASSERT_TRUE(set->Adopt("mine", **model, **scheduler).ok());
  EXPECT_FALSE(set->Adopt("mine", **model, **scheduler).ok());
  EXPECT_THAT(set->Plan({{Spec("mine", "b.gguf", 1)}}).status().message(),
              HasSubstr("held by the model served on the command line"));
  ASSERT_TRUE(set->Apply({{Spec("beta", "b.gguf", 1)}}).ok());
  ASSERT_TRUE(set->RemoveAll().ok());
  EXPECT_EQ(set->names(), (std::vector<std::string>{"mine"}));
  auto lease = set->Acquire("mine");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(&lease->model(), model->get());
  EXPECT_FALSE(Generate(*lease, 3).empty());
}

}  // namespace
}  // namespace infer
