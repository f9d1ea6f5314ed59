// One model over several ranks (threads of this process, talking over loopback TCP) against the
// same model in one process: teacher-forced logits, greedy tokens through Generate and through
// the Scheduler at 16 concurrent requests, for TP=2, PP=2 and TP=2 x PP=2 on a tiny model whose
// 3 KV heads and 3 layers do not divide evenly. Then the faults: a wrong secret, a rank that
// leaves in the middle of a step, options from the environment.
#include "infer/cluster.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "infer/model.h"
#include "infer/scheduler.h"
#include "tests/engine/tiny_model.h"

namespace infer {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "a-test-secret-of-enough-bytes";

testing::TinyModelShape Shape() {
  testing::TinyModelShape s;
  s.hidden = 96;
  s.heads = 6;
  s.kv_heads = 3;
  s.ff = 192;
  s.layers = 3;
  s.context = 512;
  return s;
}

std::vector<TokenId> Prompt(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<TokenId> p(static_cast<size_t>(n));
  for (TokenId& t : p) t = static_cast<TokenId>(rng() % 256);
  return p;
}

SamplingParams Greedy(int32_t max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

std::vector<TokenId> Ids(const std::vector<SampledToken>& tokens) {
  std::vector<TokenId> ids;
  for (const SampledToken& t : tokens) ids.push_back(t.id);
  return ids;
}

double Cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// A leader and its workers (threads) holding one model.
class Group {
 public:
  Group(const std::string& path, int tp, int pp, int threads = 1) {
    ClusterOptions o;
    o.tensor_parallel_size = tp;
    o.pipeline_parallel_size = pp;
    o.secret = kSecret;
    o.timeout = std::chrono::seconds(10);
    o.join_timeout = std::chrono::seconds(30);
    o.num_threads = threads;
    auto leader = Cluster::Create(o);
    EXPECT_TRUE(leader.ok()) << leader.status();
    if (!leader.ok()) return;
    leader_ = *std::move(leader);
    for (int r = 1; r < tp * pp; ++r) {
      ClusterOptions w = o;
      w.rank = r;
      w.address = "127.0.0.1:" + std::to_string(leader_->port());
      workers_.emplace_back([w, this] {
        auto worker = Cluster::Create(w);
        ASSERT_TRUE(worker.ok()) << worker.status();
        worker_status_[w.rank] = (*worker)->RunWorker();
      });
    }
    ModelOptions mo;
    mo.path = path;
    mo.num_threads = threads;
    mo.cluster = leader_.get();
    auto model = Model::Load(mo);
    EXPECT_TRUE(model.ok()) << model.status();
    if (model.ok()) model_ = *std::move(model);
  }
  ~Group() {
    model_.reset();
    leader_.reset();  // tells the workers to stop
    for (std::thread& t : workers_) t.join();
  }
  Model* model() { return model_.get(); }
  Cluster* leader() { return leader_.get(); }
  absl::Status worker_status(int rank) { return worker_status_[rank]; }

 private:
  std::unique_ptr<Cluster> leader_;
  std::unique_ptr<Model> model_;
  std::vector<std::thread> workers_;
  absl::Status worker_status_[8];
};

class ClusterTest : public ::testing::TestWithParam<std::pair<int, int>> {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string((std::filesystem::temp_directory_path() /
                             ("infer_tiny_cluster_" + std::to_string(getpid()) + ".gguf"))
                                .string());
    testing::WriteTinyModel(*path_, Shape());
    ModelOptions options;
    options.path = *path_;
    options.num_threads = 1;
    auto model = Model::Load(options);
    ASSERT_TRUE(model.ok()) << model.status();
    single_ = model->release();
  }
  static void TearDownTestSuite() {
    delete single_;
    std::filesystem::remove(*path_);
    delete path_;
  }
  static inline std::string* path_ = nullptr;
  static inline Model* single_ = nullptr;
};

TEST_P(ClusterTest, SameLogitsAndTokensAsOneProcess) {
  const auto [tp, pp] = GetParam();
  Group group(*path_, tp, pp);
  ASSERT_NE(group.model(), nullptr);
  EXPECT_TRUE(group.leader()->health().ok());
  EXPECT_EQ(group.leader()->ranks().size(), static_cast<size_t>(tp * pp));
  const int64_t vocab = single_->info().vocab_size;
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    const std::vector<TokenId> prompt = Prompt(40 + seed * 7, seed);
    // Teacher-forced logits at every position.
    auto want = single_->ComputeLogits(prompt);
    auto got = group.model()->ComputeLogits(prompt);
    ASSERT_TRUE(want.ok() && got.ok()) << got.status();
    ASSERT_EQ(want->size(), got->size());
    for (size_t pos = 0; pos < prompt.size(); ++pos) {
      EXPECT_GE(Cosine(want->data() + pos * vocab, got->data() + pos * vocab, vocab), 0.9999)
          << "position " << pos;
    }
    // 64 greedy tokens.
    auto alone = single_->GenerateFromTokens(prompt, Greedy(64));
    auto spread = group.model()->GenerateFromTokens(prompt, Greedy(64));
    ASSERT_TRUE(alone.ok() && spread.ok()) << spread.status();
    EXPECT_EQ(Ids(spread->tokens), Ids(alone->tokens)) << "prompt seed " << seed;
  }
}

TEST_P(ClusterTest, SchedulerAtSixteenRequestsGivesTheSameTokens) {
  const auto [tp, pp] = GetParam();
  Group group(*path_, tp, pp);
  ASSERT_NE(group.model(), nullptr);
  SchedulerOptions options;
  options.kv_cache_bytes = 16 << 20;
  options.max_num_batched_tokens = 256;
  auto scheduler = Scheduler::Create(*group.model(), options);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  std::vector<std::vector<TokenId>> prompts;
  std::vector<RequestHandle> handles;
  for (uint32_t i = 0; i < 16; ++i) {
    prompts.push_back(Prompt(10 + 9 * i, 100 + i));
    Request r;
    r.prompt = prompts.back();
    r.sampling = Greedy(24);
    auto h = (*scheduler)->Submit(std::move(r));
    ASSERT_TRUE(h.ok()) << h.status();
    handles.push_back(*h);
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    const RequestResult& r = handles[i].Wait();
    ASSERT_EQ(r.finish_reason, FinishReason::kLength) << r.status;
    auto alone = single_->GenerateFromTokens(prompts[i], Greedy(24));
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ(Ids(r.tokens), Ids(alone->tokens)) << "request " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ClusterTest,
                         ::testing::Values(std::pair{2, 1}, std::pair{1, 2}, std::pair{2, 2},
                                           std::pair{3, 1}),
                         [](const auto& info) {
                           return "tp" + std::to_string(info.param.first) + "_pp" +
                                  std::to_string(info.param.second);
                         });

// SmolLM2 (Q4_1; 9 heads, 3 KV heads, 30 layers) over TP=2, PP=2 and TP=2 x PP=2 against one
// process: teacher-forced logits at every position and 64 greedy tokens on four prompts.
TEST(ClusterSmolLm2Test, SameLogitsAndTokensAsOneProcess) {
  const char* path = std::getenv("INFER_SMOLLM2_GGUF");
  if (path == nullptr || !std::filesystem::exists(path)) {
    GTEST_SKIP() << "INFER_SMOLLM2_GGUF is not set (scripts/fetch_model.sh)";
  }
  ModelOptions options;
  options.path = path;
  options.num_threads = 2;
  auto single = Model::Load(options);
  ASSERT_TRUE(single.ok()) << single.status();
  const int64_t vocab = (*single)->info().vocab_size;
  const std::vector<std::string> prompts = {
      "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
      "Once upon a time, in a small village by the sea,",
      "def quicksort(items):", "The three primary colours are"};
  for (auto [tp, pp] : {std::pair{2, 1}, std::pair{1, 2}, std::pair{2, 2}}) {
    Group group(path, tp, pp);
    ASSERT_NE(group.model(), nullptr);
    for (const std::string& prompt : prompts) {
      auto ids = (*single)->tokenizer().Encode(prompt);
      ASSERT_TRUE(ids.ok());
      auto want = (*single)->ComputeLogits(*ids);
      auto got = group.model()->ComputeLogits(*ids);
      ASSERT_TRUE(want.ok() && got.ok()) << got.status();
      for (size_t pos = 0; pos < ids->size(); ++pos) {
        EXPECT_GE(Cosine(want->data() + pos * vocab, got->data() + pos * vocab, vocab), 0.9999)
            << "tp " << tp << " pp " << pp << " position " << pos;
      }
      SamplingParams p = Greedy(64);
      auto alone = (*single)->GenerateFromTokens(*ids, p);
      auto spread = group.model()->GenerateFromTokens(*ids, p);
      ASSERT_TRUE(alone.ok() && spread.ok()) << spread.status();
      EXPECT_EQ(Ids(spread->tokens), Ids(alone->tokens))
          << "tp " << tp << " pp " << pp << ": " << prompt;
    }
  }
}

TEST(ClusterOptionsTest, BadOptionsAreRefused) {
  ClusterOptions o;
  o.tensor_parallel_size = 2;
  o.secret = "short";
  EXPECT_EQ(Cluster::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.secret = kSecret;
  o.rank = 2;
  EXPECT_THAT(std::string(Cluster::Create(o).status().message()), HasSubstr("rank 2"));
  o.rank = 0;
  o.address = "no-port";
  EXPECT_THAT(std::string(Cluster::Create(o).status().message()), HasSubstr("host:port"));
}

TEST(ClusterOptionsTest, FromTheEnvironment) {
  setenv("TENSOR_PARALLELISM", "2", 1);
  setenv("PIPELINE_PARALLELISM", "2", 1);
  setenv("LWS_LEADER_ADDRESS", "leader.svc", 1);
  setenv("LWS_WORKER_INDEX", "3", 1);
  setenv("LWS_GROUP_SIZE", "4", 1);
  setenv("INFER_CLUSTER_SECRET", kSecret, 1);
  auto o = ClusterOptionsFromEnvironment();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tensor_parallel_size, 2);
  EXPECT_EQ(o->pipeline_parallel_size, 2);
  EXPECT_EQ(o->rank, 3);
  EXPECT_EQ(o->address, "leader.svc:29500");
  EXPECT_EQ(o->secret, kSecret);
  setenv("LWS_GROUP_SIZE", "3", 1);
  EXPECT_THAT(std::string(ClusterOptionsFromEnvironment().status().message()),
              HasSubstr("LWS_GROUP_SIZE"));
  // Without TENSOR_PARALLELISM the group's size says it: 6 ranks in 2 stages are 3 wide.
  unsetenv("TENSOR_PARALLELISM");
  setenv("LWS_GROUP_SIZE", "6", 1);
  auto derived = ClusterOptionsFromEnvironment();
  ASSERT_TRUE(derived.ok()) << derived.status();
  EXPECT_EQ(derived->tensor_parallel_size, 3);
  EXPECT_EQ(derived->pipeline_parallel_size, 2);
  setenv("LWS_GROUP_SIZE", "5", 1);
  EXPECT_THAT(std::string(ClusterOptionsFromEnvironment().status().message()),
              HasSubstr("do not split into 2 pipeline stages"));
  setenv("TENSOR_PARALLELISM", "two", 1);
  EXPECT_THAT(std::string(ClusterOptionsFromEnvironment().status().message()),
              HasSubstr("TENSOR_PARALLELISM"));
  for (const char* v : {"TENSOR_PARALLELISM", "PIPELINE_PARALLELISM", "LWS_LEADER_ADDRESS",
                        "LWS_WORKER_INDEX", "LWS_GROUP_SIZE", "INFER_CLUSTER_SECRET"}) {
    unsetenv(v);
  }
}

TEST(ClusterFaultTest, AWorkerWithTheWrongSecretCannotJoin) {
  ClusterOptions o;
  o.tensor_parallel_size = 2;
  o.secret = kSecret;
  o.join_timeout = std::chrono::seconds(3);
  auto leader = Cluster::Create(o);
  ASSERT_TRUE(leader.ok()) << leader.status();
  ClusterOptions w = o;
  w.rank = 1;
  w.secret = "another-secret-of-enough-bytes";
  w.address = "127.0.0.1:" + std::to_string((*leader)->port());
  std::thread impostor([w] { EXPECT_FALSE(Cluster::Create(w).ok()); });
  const absl::Status waited = (*leader)->WaitForRanks();
  impostor.join();
  EXPECT_EQ(waited.code(), absl::StatusCode::kDeadlineExceeded) << waited;
  EXPECT_FALSE((*leader)->health().ok());
}

// A worker that leaves while the leader generates (SIGTERM on a worker pod): the step of that
// moment fails at once, not at the timeout; the request ends with an error naming the rank;
// health() names it; the next request fails fast; the worker's RunWorker returns OK.
TEST(ClusterFaultTest, ARankThatLeavesMidStepFailsTheStepAndNamesItself) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("infer_tiny_leave_" + std::to_string(getpid()) + ".gguf"))
                               .string();
  testing::WriteTinyModel(path, Shape());
  ClusterOptions o;
  o.tensor_parallel_size = 2;
  o.secret = kSecret;
  o.timeout = std::chrono::seconds(20);  // a failure by timeout would take this long
  o.join_timeout = std::chrono::seconds(30);
  o.heartbeat_interval = std::chrono::milliseconds(0);
  auto leader = Cluster::Create(o);
  ASSERT_TRUE(leader.ok()) << leader.status();
  ClusterOptions w = o;
  w.rank = 1;
  w.address = "127.0.0.1:" + std::to_string((*leader)->port());
  // The worker joins while the leader loads (as the pods start). Its Cluster outlives both
  // threads, as in `infer-cli worker`: Leave() from another thread may still be running when
  // RunWorker returns, and the cluster must not be destroyed underneath it.
  std::unique_ptr<Cluster> worker_cluster;
  std::atomic<Cluster*> worker{nullptr};
  absl::Status worker_done = absl::UnknownError("RunWorker did not return");
  std::thread worker_thread([&] {
    auto created = Cluster::Create(w);
    ASSERT_TRUE(created.ok()) << created.status();
    worker_cluster = *std::move(created);
    worker.store(worker_cluster.get());
    worker_done = worker_cluster->RunWorker();
  });
  ModelOptions mo;
  mo.path = path;
  mo.num_threads = 1;
  mo.cluster = leader->get();
  auto model = Model::Load(mo);
  ASSERT_TRUE(model.ok()) << model.status();

  std::atomic<int> tokens{0};
  std::thread leaver([&] {
    while (tokens.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    worker.load()->Leave();
  });
  const auto start = std::chrono::steady_clock::now();
  auto cut = (*model)->GenerateFromTokens(Prompt(16, 3), Greedy(400), [&](const TokenEvent&) {
    tokens.fetch_add(1);
    return true;
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  leaver.join();
  ASSERT_FALSE(cut.ok()) << "the generation went on without rank 1";
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("rank 1"));
  EXPECT_GE(tokens.load(), 5);
  EXPECT_LT(tokens.load(), 400);
  EXPECT_LT(seconds, 10.0) << "the step waited for the timeout instead of seeing the leave";
  EXPECT_THAT(std::string((*leader)->health().message()), HasSubstr("rank 1"));
  auto after = (*model)->GenerateFromTokens(Prompt(8, 4), Greedy(4));
  EXPECT_FALSE(after.ok());
  model->reset();
  leader->reset();
  worker_thread.join();
  EXPECT_TRUE(worker_done.ok()) << worker_done;
  worker_cluster.reset();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace infer
