// AllReduceSum latency and bandwidth over loopback with 2 ranks (threads of this process), next
// to the loopback limit: the same exchange (each side sends N bytes and receives N bytes) over a
// plain TCP_NODELAY socket pair with blocking send/recv. Sizes 4 B .. 64 MiB.
//
//   build/bench/comm/bench_comm --benchmark_filter=AllReduce --benchmark_min_time=1
//
// bytes_per_second counts the buffer once per iteration (an all-reduce of N bytes, or an
// exchange of N bytes each way).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "libinfer/comm/tcp_communicator.h"
#include "libinfer/util/cpu_features.h"

namespace infer::comm {
namespace {

constexpr Timeout kTimeout{60000};

const bool kContext = [] {
  benchmark::AddCustomContext("cpu_model", CpuModelName());
  benchmark::AddCustomContext("ranks", "2 threads over 127.0.0.1");
  return true;
}();

// A 2-rank world whose rank 1 runs on a helper thread, mirroring every call of rank 0.
class TwoRanks {
 public:
  explicit TwoRanks(bool encrypt = false) {
    TcpOptions o;
    o.world_size = 2;
    o.encrypt = encrypt;
    o.secret = "bench-secret-0123456789abcdef";
    auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, o);
    if (!rendezvous.ok()) return;
    const std::string leader = "127.0.0.1:" + std::to_string((*rendezvous)->port());
    std::thread joiner([&] {
      TcpOptions o1 = o;
      o1.rank = 1;
      auto c = JoinTcp(leader, o1);
      if (c.ok()) rank1_ = *std::move(c);
    });
    auto c0 = (*rendezvous)->Accept(kTimeout);
    joiner.join();
    if (c0.ok()) rank0_ = *std::move(c0);
  }
  bool ok() const { return rank0_ && rank1_; }
  Communicator& rank0() { return *rank0_; }
  Communicator& rank1() { return *rank1_; }

 private:
  std::unique_ptr<Communicator> rank0_;
  std::unique_ptr<Communicator> rank1_;
};

// Every frame is sealed (AES-128-GCM tag); BM_AllReduceF32Encrypted also encrypts the payloads.
void AllReduceF32(benchmark::State& state, bool encrypt) {
  const size_t count = static_cast<size_t>(state.range(0)) / sizeof(float);
  TwoRanks world(encrypt);
  if (!world.ok()) {
    state.SkipWithError("rendezvous failed");
    return;
  }
  std::vector<float> a(count, 1.0f), b(count, 2.0f);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> rounds{0};
  // Rank 1 runs as many all-reduces as rank 0 asks for (one per iteration, then one more stop).
  std::thread peer([&] {
    while (true) {
      while (rounds.load(std::memory_order_acquire) == 0 && !stop.load()) {
      }
      if (rounds.load() == 0 && stop.load()) return;
      rounds.fetch_sub(1);
      if (!world.rank1().AllReduceSum(b.data(), count, ReduceType::kF32, kTimeout).ok()) return;
    }
  });
  for (auto _ : state) {
    rounds.fetch_add(1, std::memory_order_release);
    const auto s = world.rank0().AllReduceSum(a.data(), count, ReduceType::kF32, kTimeout);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  stop.store(true);
  peer.join();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(count * sizeof(float)));
}

void BM_AllReduceF32(benchmark::State& state) { AllReduceF32(state, false); }
void BM_AllReduceF32Encrypted(benchmark::State& state) { AllReduceF32(state, true); }

// The same exchange over a plain socket pair: both sides send N bytes and receive N bytes.
void Exchange(int fd, const char* out, char* in, size_t n) {
  size_t sent = 0, got = 0;
  // Two threads would hide nothing here: interleave non-blocking sends and receives.
  while (sent < n || got < n) {
    if (sent < n) {
      const ssize_t k = send(fd, out + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (k > 0) sent += static_cast<size_t>(k);
    }
    if (got < n) {
      const ssize_t k = recv(fd, in + got, n - got, MSG_DONTWAIT);
      if (k > 0) got += static_cast<size_t>(k);
      if (k == 0) return;
    }
  }
}

void BM_LoopbackTcpExchange(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    state.SkipWithError("cannot listen");
    close(listener);
    return;
  }
  const int a = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    state.SkipWithError("cannot connect");
    close(listener);
    close(a);
    return;
  }
  const int b = accept(listener, nullptr, nullptr);
  close(listener);
  int one = 1;
  setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> out_a(n, 'a'), in_a(n), out_b(n, 'b'), in_b(n);
  std::atomic<int64_t> rounds{0};
  std::atomic<bool> stop{false};
  std::thread peer([&] {
    while (true) {
      while (rounds.load(std::memory_order_acquire) == 0 && !stop.load()) {
      }
      if (rounds.load() == 0 && stop.load()) return;
      rounds.fetch_sub(1);
      Exchange(b, out_b.data(), in_b.data(), n);
    }
  });
  for (auto _ : state) {
    rounds.fetch_add(1, std::memory_order_release);
    Exchange(a, out_a.data(), in_a.data(), n);
  }
  stop.store(true);
  peer.join();
  close(a);
  close(b);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}

BENCHMARK(BM_AllReduceF32)->RangeMultiplier(4)->Range(4, 64 << 20)->UseRealTime();
BENCHMARK(BM_AllReduceF32Encrypted)->RangeMultiplier(4)->Range(4, 64 << 20)->UseRealTime();
BENCHMARK(BM_LoopbackTcpExchange)->RangeMultiplier(4)->Range(4, 64 << 20)->UseRealTime();

}  // namespace
}  // namespace infer::comm
