// The NCCL communicator. Everywhere: a group that cannot form (no NCCL in the build, no GPU, or
// fewer GPUs than ranks) fails every rank with the same reason, naming the rank, without a hang.
// With GPUs (INFER_TEST_NCCL builds, as many devices as ranks): every collective on device memory
// against sums computed here; a world of one on a single GPU.
#include "libinfer/comm/nccl_communicator.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/comm/tcp_world.h"

#ifdef INFER_TEST_NCCL
#include <cuda_runtime.h>
#endif

namespace infer::comm {
namespace {

int VisibleGpus() {
#ifdef INFER_TEST_NCCL
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

// Without NCCL, without a GPU, or with fewer GPUs than ranks (each rank takes device = rank),
// every rank gets the same FailedPrecondition, naming the first rank that cannot take part.
TEST(NcclCommunicatorTest, AGroupThatCannotFormFailsEveryRankAlike) {
  constexpr int kRanks = 3;
  if (NcclAvailable() && VisibleGpus() >= kRanks) {
    GTEST_SKIP() << "this machine has " << VisibleGpus() << " GPUs: the group forms";
  }
  World world = MakeWorld(kRanks);
  ASSERT_EQ(world.size(), static_cast<size_t>(kRanks));
  std::vector<absl::Status> got(kRanks);
  OnEveryRank(kRanks, [&](int r) {
    NcclOptions o;
    o.device = r;
    o.init_timeout = kTimeout;
    absl::StatusOr<std::unique_ptr<Communicator>> c = CreateNcclCommunicator(*world[r], o);
    got[r] = c.status();
  });
  const int first_failing = NcclAvailable() ? VisibleGpus() : 0;
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(got[r].code(), absl::StatusCode::kFailedPrecondition) << r << ": " << got[r];
    EXPECT_EQ(got[r].message(), got[0].message()) << r;
    EXPECT_EQ(
        std::string(got[r].message()).rfind("rank " + std::to_string(first_failing) + ": ", 0), 0u)
        << got[r];
  }
  if (!NcclAvailable()) {
    EXPECT_NE(std::string(got[0].message()).find("no NCCL"), std::string::npos) << got[0];
  } else if (VisibleGpus() == 0) {
    EXPECT_NE(std::string(got[0].message()).find("no CUDA device"), std::string::npos) << got[0];
  }
  // The bootstrap communicator is still usable: the failure was agreed, not a broken peer.
  OnEveryRank(kRanks, [&](int r) { EXPECT_TRUE(world[r]->Barrier(kTimeout).ok()); });
}

#ifdef INFER_TEST_NCCL

// Device buffers of `n` floats, filled from / read back to the host.
struct DeviceFloats {
  explicit DeviceFloats(int device, size_t n) : n(n) {
    cudaSetDevice(device);
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)), cudaSuccess);
  }
  ~DeviceFloats() { cudaFree(p); }
  void Put(const std::vector<float>& v) {
    cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice);
  }
  std::vector<float> Get() const {
    std::vector<float> v(n);
    cudaMemcpy(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost);
    return v;
  }
  float* p = nullptr;
  size_t n;
};

float Value(int rank, size_t i) {
  return static_cast<float>(static_cast<int>((i * 7 + static_cast<size_t>(rank) * 13) % 61) - 30) *
         0.25f;
}

TEST(NcclCommunicatorTest, AWorldOfOneOnOneGpu) {
  if (VisibleGpus() < 1) GTEST_SKIP() << "no GPU";
  World world = MakeWorld(1);
  ASSERT_EQ(world.size(), 1u);
  auto nccl = CreateNcclCommunicator(*world[0], NcclOptions{});
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  DeviceFloats d(0, 1000);
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = Value(0, i);
  d.Put(v);
  ASSERT_TRUE((*nccl)->AllReduceSum(d.p, v.size(), ReduceType::kF32, kTimeout).ok());
  EXPECT_EQ(d.Get(), v);
  EXPECT_TRUE((*nccl)->Barrier(kTimeout).ok());
}

TEST(NcclCommunicatorTest, CollectivesOnDeviceMemoryMatchTheHost) {
  const int n = std::min(VisibleGpus(), 4);
  if (n < 2) GTEST_SKIP() << "needs 2 GPUs, " << VisibleGpus() << " visible";
  World world = MakeWorld(n);
  ASSERT_EQ(world.size(), static_cast<size_t>(n));
  std::vector<std::unique_ptr<Communicator>> nccl(n);
  OnEveryRank(n, [&](int r) {
    NcclOptions o;
    o.device = r;
    auto c = CreateNcclCommunicator(*world[r], o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) nccl[r] = *std::move(c);
  });
  for (auto& c : nccl) ASSERT_NE(c, nullptr);
  for (size_t count : {size_t{1}, size_t{577}, size_t{1} << 20}) {
    std::vector<std::vector<float>> got(n);
    OnEveryRank(n, [&](int r) {
      DeviceFloats d(r, count);
      std::vector<float> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = Value(r, i);
      d.Put(v);
      EXPECT_TRUE(nccl[r]->AllReduceSum(d.p, count, ReduceType::kF32, kTimeout).ok());
      got[r] = d.Get();
    });
    for (size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int r = 0; r < n; ++r) want += Value(r, i);
      for (int r = 0; r < n; ++r) ASSERT_EQ(got[r][i], want) << "rank " << r << " index " << i;
    }
  }
  // All-gather, broadcast, rank 0 sending to rank 1 (a pipeline hand-off), barrier.
  OnEveryRank(n, [&](int r) {
    DeviceFloats mine(r, 64), all(r, 64 * static_cast<size_t>(n));
    mine.Put(std::vector<float>(64, static_cast<float>(r + 1)));
    EXPECT_TRUE(nccl[r]->AllGather(mine.p, 64 * sizeof(float), all.p, kTimeout).ok());
    const std::vector<float> a = all.Get();
    for (int k = 0; k < n; ++k) EXPECT_EQ(a[static_cast<size_t>(k) * 64], k + 1.0f);
    DeviceFloats b(r, 16);
    b.Put(std::vector<float>(16, r == 1 ? 42.0f : 0.0f));
    EXPECT_TRUE(nccl[r]->Broadcast(b.p, 16 * sizeof(float), 1, kTimeout).ok());
    EXPECT_EQ(b.Get()[15], 42.0f);
    DeviceFloats h(r, 8);
    if (r == 0) {
      h.Put(std::vector<float>(8, 7.0f));
      EXPECT_TRUE(nccl[r]->Send(h.p, 8 * sizeof(float), 1, kTimeout).ok());
    } else if (r == 1) {
      EXPECT_TRUE(nccl[r]->Recv(h.p, 8 * sizeof(float), 0, kTimeout).ok());
      EXPECT_EQ(h.Get()[7], 7.0f);
    }
    EXPECT_TRUE(nccl[r]->Barrier(kTimeout).ok());
  });
}

#endif  // INFER_TEST_NCCL

}  // namespace
}  // namespace infer::comm
