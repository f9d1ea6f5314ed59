// A world of TCP communicators whose ranks are threads of the test process, over loopback.
#ifndef INFER_TESTS_COMM_TCP_WORLD_H_
#define INFER_TESTS_COMM_TCP_WORLD_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/comm/tcp_communicator.h"

namespace infer::comm {

inline constexpr std::chrono::milliseconds kTimeout{20000};

inline TcpOptions Options(int rank, int world_size) {
  TcpOptions o;
  o.rank = rank;
  o.world_size = world_size;
  o.secret = "test-secret-0123456789abcdef";
  o.join_timeout = std::chrono::seconds(20);
  o.handshake_timeout = std::chrono::milliseconds(500);
  return o;
}

using World = std::vector<std::unique_ptr<Communicator>>;

// Forms a world of `n` ranks (rank 0 here, the others on threads). `edit` adjusts each rank's
// options.
inline World MakeWorld(int n, const std::function<void(TcpOptions&)>& edit = {}) {
  TcpOptions o0 = Options(0, n);
  if (edit) edit(o0);
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, o0);
  EXPECT_TRUE(rendezvous.ok()) << rendezvous.status();
  if (!rendezvous.ok()) return {};
  const std::string leader = "127.0.0.1:" + std::to_string((*rendezvous)->port());
  World world(n);
  std::vector<std::thread> threads;
  for (int r = 1; r < n; ++r) {
    threads.emplace_back([&, r] {
      TcpOptions o = Options(r, n);
      if (edit) edit(o);
      auto c = JoinTcp(leader, o);
      EXPECT_TRUE(c.ok()) << c.status();
      if (c.ok()) world[r] = *std::move(c);
    });
  }
  auto c0 = (*rendezvous)->Accept(kTimeout);
  EXPECT_TRUE(c0.ok()) << c0.status();
  if (c0.ok()) world[0] = *std::move(c0);
  for (auto& t : threads) t.join();
  for (auto& c : world) {
    if (c == nullptr) return {};
  }
  return world;
}

// Runs fn(rank) on one thread per rank.
inline void OnEveryRank(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

}  // namespace infer::comm

#endif  // INFER_TESTS_COMM_TCP_WORLD_H_
