// The TCP communicator, ranks as threads of this process over loopback: every collective
// against a sum/copy computed here, bit-identical results on every rank, crossing large
// transfers, sub-groups, the rendezvous refusing strangers, and the errors a lost or silent
// peer gives.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "infer/log.h"
#include "libinfer/comm/frame.h"
#include "libinfer/comm/frame_seal.h"
#include "libinfer/comm/tcp_communicator.h"
#include "libinfer/util/fp16.h"
#include "tests/comm/tcp_world.h"
#include "tests/util/log_capture.h"

namespace infer::comm {
namespace {

using std::chrono::milliseconds;

#ifdef INFER_COMM_TEST_SMALL
constexpr size_t kLargestElements = size_t{1} << 20;  // 4 MiB of F32 under sanitizers
#else
constexpr size_t kLargestElements = size_t{16} << 20;  // 64 MiB of F32
#endif

// Values whose sums are exact in any order (multiples of 1/4, small), so the expected result
// does not depend on the order of the additions.
float Value(int rank, size_t i) {
  return static_cast<float>(static_cast<int>((i * 7 + static_cast<size_t>(rank) * 13) % 61) - 30) *
         0.25f;
}

void CheckAllReduceF32(World& world, size_t count) {
  const int n = static_cast<int>(world.size());
  std::vector<std::vector<float>> data(n, std::vector<float>(count));
  for (int r = 0; r < n; ++r) {
    for (size_t i = 0; i < count; ++i) data[r][i] = Value(r, i);
  }
  OnEveryRank(n, [&](int r) {
    const auto s = world[r]->AllReduceSum(data[r].data(), count, ReduceType::kF32, kTimeout);
    EXPECT_TRUE(s.ok()) << "rank " << r << ": " << s;
  });
  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    float want = 0;
    for (int r = 0; r < n; ++r) want += Value(r, i);
    if (data[0][i] != want && wrong++ < 3) {
      ADD_FAILURE() << "element " << i << " of " << count << ": " << data[0][i] << " != " << want;
    }
  }
  for (int r = 1; r < n; ++r) {
    EXPECT_EQ(std::memcmp(data[0].data(), data[r].data(), count * sizeof(float)), 0)
        << "rank " << r << " differs from rank 0, count " << count;
  }
}

TEST(TcpCommunicatorTest, AllReduceF32MatchesTheSumOnEverySizeAndRankCount) {
  for (int n : {2, 3, 4}) {
    World world = MakeWorld(n);
    ASSERT_EQ(world.size(), static_cast<size_t>(n));
    for (size_t count : {size_t{1}, size_t{2}, size_t{3}, size_t{17}, size_t{1000}, size_t{65536},
                         size_t{65537}, size_t{300001}, size_t{1} << 20}) {
      CheckAllReduceF32(world, count);
    }
  }
}

TEST(TcpCommunicatorTest, AllReduceF32Of64MiB) {
  for (int n : {2, 3}) {
    World world = MakeWorld(n);
    ASSERT_EQ(world.size(), static_cast<size_t>(n));
    CheckAllReduceF32(world, kLargestElements);
  }
}

TEST(TcpCommunicatorTest, AllReduceBf16SumsInF32AndIsBitIdentical) {
  for (int n : {2, 3, 4}) {
    World world = MakeWorld(n);
    ASSERT_EQ(world.size(), static_cast<size_t>(n));
    for (size_t count : {size_t{1}, size_t{5}, size_t{4096}, size_t{200003}, size_t{1} << 21}) {
      // Small integers: every partial sum is exact in BF16, whatever the order.
      auto value = [](int r, size_t i) {
        return static_cast<float>(static_cast<int>((i * 5 + static_cast<size_t>(r) * 3) % 17) - 8);
      };
      std::vector<std::vector<uint16_t>> data(n, std::vector<uint16_t>(count));
      for (int r = 0; r < n; ++r) {
        for (size_t i = 0; i < count; ++i) data[r][i] = Fp32ToBf16(value(r, i));
      }
      OnEveryRank(n, [&](int r) {
        EXPECT_TRUE(
            world[r]->AllReduceSum(data[r].data(), count, ReduceType::kBF16, kTimeout).ok());
      });
      for (size_t i = 0; i < count; ++i) {
        float want = 0;
        for (int r = 0; r < n; ++r) want += value(r, i);
        ASSERT_EQ(Bf16ToFp32(data[0][i]), want) << "element " << i << " count " << count;
      }
      for (int r = 1; r < n; ++r) {
        EXPECT_EQ(std::memcmp(data[0].data(), data[r].data(), count * 2), 0);
      }
    }
  }
}

TEST(TcpCommunicatorTest, InexactSumsAreStillBitIdenticalAcrossRanks) {
  World world = MakeWorld(3);
  ASSERT_EQ(world.size(), 3u);
  for (size_t count : {size_t{1000}, size_t{1} << 20}) {
    std::vector<std::vector<float>> data(3, std::vector<float>(count));
    for (int r = 0; r < 3; ++r) {
      for (size_t i = 0; i < count; ++i) data[r][i] = 1.0f / static_cast<float>(i + r + 3) * 1e3f;
    }
    OnEveryRank(3, [&](int r) {
      EXPECT_TRUE(world[r]->AllReduceSum(data[r].data(), count, ReduceType::kF32, kTimeout).ok());
    });
    EXPECT_EQ(std::memcmp(data[0].data(), data[1].data(), count * 4), 0);
    EXPECT_EQ(std::memcmp(data[0].data(), data[2].data(), count * 4), 0);
  }
}

TEST(TcpCommunicatorTest, AllGatherCollectsInRankOrder) {
  for (int n : {2, 3}) {
    World world = MakeWorld(n);
    ASSERT_EQ(world.size(), static_cast<size_t>(n));
    for (size_t bytes : {size_t{1}, size_t{1000}, size_t{3} << 20}) {
      std::vector<std::string> out(n, std::string(bytes * n, '\0'));
      OnEveryRank(n, [&](int r) {
        const std::string mine(bytes, static_cast<char>('a' + r));
        EXPECT_TRUE(world[r]->AllGather(mine.data(), bytes, out[r].data(), kTimeout).ok());
      });
      std::string want;
      for (int r = 0; r < n; ++r) want += std::string(bytes, static_cast<char>('a' + r));
      for (int r = 0; r < n; ++r) EXPECT_TRUE(out[r] == want) << "rank " << r;
    }
  }
}

TEST(TcpCommunicatorTest, BroadcastFromEveryRoot) {
  World world = MakeWorld(3);
  ASSERT_EQ(world.size(), 3u);
  for (int root = 0; root < 3; ++root) {
    for (size_t bytes : {size_t{5}, size_t{2} << 20}) {
      std::vector<std::string> data(3, std::string(bytes, '?'));
      for (size_t i = 0; i < bytes; ++i) data[root][i] = static_cast<char>(i * 31 + root);
      const std::string want = data[root];
      OnEveryRank(3, [&](int r) {
        EXPECT_TRUE(world[r]->Broadcast(data[r].data(), bytes, root, kTimeout).ok());
      });
      for (int r = 0; r < 3; ++r) EXPECT_TRUE(data[r] == want) << "root " << root << " rank " << r;
    }
  }
}

TEST(TcpCommunicatorTest, CrossingLargeSendsDoNotDeadlock) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  const size_t bytes = size_t{32} << 20;
  std::vector<std::string> sent(2), got(2, std::string(bytes, '\0'));
  for (int r = 0; r < 2; ++r) {
    sent[r].resize(bytes);
    for (size_t i = 0; i < bytes; i += 4096) sent[r][i] = static_cast<char>(i / 4096 + r);
  }
  OnEveryRank(2, [&](int r) {
    // Both ranks send first: neither reads until its Send is done.
    auto s = world[r]->Send(sent[r].data(), bytes, 1 - r, kTimeout);
    EXPECT_TRUE(s.ok()) << s;
    s = world[r]->Recv(got[r].data(), bytes, 1 - r, kTimeout);
    EXPECT_TRUE(s.ok()) << s;
  });
  EXPECT_TRUE(got[0] == sent[1]);
  EXPECT_TRUE(got[1] == sent[0]);
  // And the usual order, several messages in a row.
  OnEveryRank(2, [&](int r) {
    for (int k = 0; k < 3; ++k) {
      char v = static_cast<char>(k);
      if (r == 0) {
        EXPECT_TRUE(world[0]->Send(&v, 1, 1, kTimeout).ok());
      } else {
        char w = -1;
        EXPECT_TRUE(world[1]->Recv(&w, 1, 0, kTimeout).ok());
        EXPECT_EQ(w, v);
      }
    }
  });
}

TEST(TcpCommunicatorTest, BarrierWaitsForEveryRank) {
  World world = MakeWorld(4);
  ASSERT_EQ(world.size(), 4u);
  std::atomic<int> arrived{0};
  OnEveryRank(4, [&](int r) {
    std::this_thread::sleep_for(milliseconds(20 * r));
    arrived.fetch_add(1);
    EXPECT_TRUE(world[r]->Barrier(kTimeout).ok());
    EXPECT_EQ(arrived.load(), 4) << "rank " << r << " left the barrier early";
  });
}

TEST(TcpCommunicatorTest, SubgroupsRenumberAndShareConnections) {
  World world = MakeWorld(4);
  ASSERT_EQ(world.size(), 4u);
  OnEveryRank(4, [&](int r) {
    // Two disjoint groups working at the same time, then the world, then a reversed group.
    const std::vector<int> members = r % 2 == 0 ? std::vector<int>{2, 0} : std::vector<int>{3, 1};
    auto sub = world[r]->Subgroup(members);
    ASSERT_TRUE(sub.ok()) << sub.status();
    EXPECT_EQ((*sub)->size(), 2);
    EXPECT_EQ((*sub)->rank(), r < 2 ? 1 : 0);
    std::vector<float> v(100000, static_cast<float>(r));
    ASSERT_TRUE((*sub)->AllReduceSum(v.data(), v.size(), ReduceType::kF32, kTimeout).ok());
    EXPECT_EQ(v[0], r % 2 == 0 ? 2.0f : 4.0f);
    EXPECT_EQ(v[99999], v[0]);
    float w = static_cast<float>(r);
    ASSERT_TRUE(world[r]->AllReduceSum(&w, 1, ReduceType::kF32, kTimeout).ok());
    EXPECT_EQ(w, 6.0f);
    const std::vector<int> reversed = {3, 2, 1, 0};
    auto rev = world[r]->Subgroup(reversed);
    ASSERT_TRUE(rev.ok());
    EXPECT_EQ((*rev)->rank(), 3 - r);
    char c = static_cast<char>(r == 3 ? 'z' : '-');
    ASSERT_TRUE((*rev)->Broadcast(&c, 1, 0, kTimeout).ok());  // new rank 0 is world rank 3
    EXPECT_EQ(c, 'z');
    // A sub-group of a sub-group.
    auto inner = (*rev)->Subgroup(std::vector<int>{(*rev)->rank()});
    ASSERT_TRUE(inner.ok());
    EXPECT_EQ((*inner)->size(), 1);
    EXPECT_TRUE((*inner)->Barrier(kTimeout).ok());
  });
  EXPECT_EQ(world[0]->Subgroup(std::vector<int>{1, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(world[0]->Subgroup(std::vector<int>{0, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(world[0]->Subgroup(std::vector<int>{0, 4}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TcpCommunicatorTest, ShortOrMissingSecretIsRefused) {
  TcpOptions o = Options(0, 2);
  o.secret = "short";
  EXPECT_EQ(TcpRendezvous::Listen("127.0.0.1", 0, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(1, 2);
  o.secret.clear();
  EXPECT_EQ(JoinTcp("127.0.0.1:1", o).status().code(), absl::StatusCode::kInvalidArgument);
}

using ::infer::testing::LogCapture;

TEST(TcpRendezvousTest, WrongSecretIsRefusedBothWays) {
  LogCapture log;
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, Options(0, 2));
  ASSERT_TRUE(rendezvous.ok());
  const std::string leader = "127.0.0.1:" + std::to_string((*rendezvous)->port());
  auto joiner = std::async(std::launch::async, [&] {
    TcpOptions o = Options(1, 2);
    o.secret = "another-secret-0123456789";
    return JoinTcp(leader, o).status();
  });
  auto accepted = (*rendezvous)->Accept(milliseconds(1500));
  EXPECT_EQ(accepted.status().code(), absl::StatusCode::kDeadlineExceeded) << accepted.status();
  EXPECT_NE(std::string(accepted.status().message()).find("rank(s) 1"), std::string::npos);
  const absl::Status joined = joiner.get();
  // The leader's tag does not verify under the joiner's secret: the joiner refuses first.
  EXPECT_EQ(joined.code(), absl::StatusCode::kPermissionDenied) << joined;
  EXPECT_NE(log.All().find("dropped a connection"), std::string::npos) << log.All();
}

int RawConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

TEST(TcpRendezvousTest, StrangersAreDroppedWhileTheRealRanksJoin) {
  LogCapture log;
  const int n = 3;
  std::vector<std::string> joined_addresses;
  std::promise<void> rank1_joined;
  TcpOptions o0 = Options(0, n);
  o0.on_join = [&](int rank, std::string_view address) {
    joined_addresses.push_back(std::to_string(rank) + "@" + std::string(address));
    if (rank == 1) rank1_joined.set_value();
  };
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, o0);
  ASSERT_TRUE(rendezvous.ok());
  const uint16_t port = (*rendezvous)->port();
  const std::string leader = "127.0.0.1:" + std::to_string(port);

  // Strangers first: garbage, a silent connection, a Hello for another world size, and a Hello
  // claiming rank 1 followed by a made-up proof.
  const int garbage = RawConnect(port);
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(garbage, junk.data(), junk.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(junk.size()));
  const int silent = RawConnect(port);
  const int wrong_world = RawConnect(port);
  HelloMessage hello;
  hello.rank = 1;
  hello.world_size = 7;
  const std::string w = EncodeFrame(FrameType::kHello, 0, 0, EncodeHello(hello));
  ASSERT_EQ(send(wrong_world, w.data(), w.size(), MSG_NOSIGNAL), static_cast<ssize_t>(w.size()));
  const int impostor = RawConnect(port);
  hello.world_size = n;
  const std::string h = EncodeFrame(FrameType::kHello, 0, 0, EncodeHello(hello)) +
                        EncodeFrame(FrameType::kProof, 0, 0, EncodeProof({}));
  ASSERT_EQ(send(impostor, h.data(), h.size(), MSG_NOSIGNAL), static_cast<ssize_t>(h.size()));

  World world(n);
  auto accept = std::async(std::launch::async, [&] { return (*rendezvous)->Accept(kTimeout); });
  std::thread r1([&] {
    auto c = JoinTcp(leader, Options(1, n));
    ASSERT_TRUE(c.ok()) << c.status();
    world[1] = *std::move(c);
  });
  rank1_joined.get_future().wait();
  // A second rank 1 is refused (rank 2 has not joined yet, so the leader is still listening).
  TcpOptions dup = Options(1, n);
  dup.join_timeout = milliseconds(2000);
  const absl::Status dup_status = JoinTcp(leader, dup).status();
  EXPECT_FALSE(dup_status.ok());
  // Let the silent stranger's handshake timeout (500 ms) pass while the leader still waits.
  std::this_thread::sleep_for(milliseconds(700));
  std::thread r2([&] {
    auto c = JoinTcp(leader, Options(2, n));
    ASSERT_TRUE(c.ok()) << c.status();
    world[2] = *std::move(c);
  });
  auto c0 = accept.get();
  r1.join();
  r2.join();
  ASSERT_TRUE(c0.ok()) << c0.status();
  world[0] = *std::move(c0);
  ASSERT_TRUE(world[1] && world[2]);
  CheckAllReduceF32(world, 1000);
  ASSERT_EQ(joined_addresses.size(), 2u);
  EXPECT_EQ(joined_addresses[0].substr(0, 12), "1@127.0.0.1:");
  const std::string text = log.All();
  EXPECT_NE(text.find("'magic'"), std::string::npos) << text;
  EXPECT_NE(text.find("world size 7"), std::string::npos) << text;
  EXPECT_NE(text.find("HMAC tag is wrong"), std::string::npos) << text;
  EXPECT_NE(text.find("already joined"), std::string::npos) << text;
  EXPECT_NE(text.find("no complete handshake"), std::string::npos) << text;
  for (int fd : {garbage, silent, wrong_world, impostor}) close(fd);
}

TEST(TcpCommunicatorTest, ClosedPeerGivesUnavailableNamingIt) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  std::vector<float> v(size_t{4} << 20, 1.0f);
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    world[1].reset();  // rank 1 goes away mid-operation
  });
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s =
      world[0]->AllReduceSum(v.data(), v.size(), ReduceType::kF32, milliseconds(5000));
  closer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(4000));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(std::string(s.message()).find("rank 1 (127.0.0.1:"), std::string::npos) << s;
  EXPECT_NE(std::string(s.message()).find("closed the connection during AllReduceSum"),
            std::string::npos)
      << s;
  // Broken: the same error at once, from every call.
  EXPECT_EQ(world[0]->health(), s);
  EXPECT_EQ(world[0]->Barrier(milliseconds(5000)), s);
}

TEST(TcpCommunicatorTest, LostRankFailsEveryOtherRank) {
  World world = MakeWorld(3);
  ASSERT_EQ(world.size(), 3u);
  world[2].reset();
  OnEveryRank(2, [&](int r) {
    std::vector<float> v(1000, 1.0f);
    const auto s = world[r]->AllReduceSum(v.data(), v.size(), ReduceType::kF32, kTimeout);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  });
}

TEST(TcpCommunicatorTest, SilentPeerGivesDeadlineExceeded) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  char buf[16];
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s = world[0]->Recv(buf, sizeof(buf), 1, milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(std::string(s.message()).find("rank 1 (127.0.0.1:"), std::string::npos) << s;
  EXPECT_NE(std::string(s.message()).find("sent nothing for 300 ms during Recv"), std::string::npos)
      << s;
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_EQ(world[0]->AllGather(buf, 1, buf, kTimeout), s);
}

TEST(TcpCommunicatorTest, MismatchedOperationsAreInternalErrors) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  std::vector<absl::Status> status(2);
  OnEveryRank(2, [&](int r) {
    std::vector<float> v(64, 1.0f);
    std::vector<float> out(128);
    status[r] = r == 0 ? world[0]->AllReduceSum(v.data(), 64, ReduceType::kF32, milliseconds(2000))
                       : world[1]->AllGather(v.data(), 256, out.data(), milliseconds(2000));
  });
  // At least one side sees the other's frame first; the other may see the closed connection.
  const bool internal = status[0].code() == absl::StatusCode::kInternal ||
                        status[1].code() == absl::StatusCode::kInternal;
  EXPECT_TRUE(internal) << status[0] << " / " << status[1];
  for (const auto& s : status) {
    if (s.code() == absl::StatusCode::kInternal) {
      EXPECT_NE(std::string(s.message()).find("different operations"), std::string::npos) << s;
    }
  }
}

TEST(TcpCommunicatorTest, WorldOfOneIsTrivial) {
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, Options(0, 1));
  ASSERT_TRUE(rendezvous.ok());
  auto c = (*rendezvous)->Accept(kTimeout);
  ASSERT_TRUE(c.ok());
  float v = 3;
  EXPECT_TRUE((*c)->AllReduceSum(&v, 1, ReduceType::kF32, kTimeout).ok());
  EXPECT_EQ(v, 3.0f);
  EXPECT_TRUE((*c)->Barrier(kTimeout).ok());
}

// A rank told to stop (SIGTERM) while it waits for the leader: the wait returns Cancelled with the
// group intact, the rank leaves, and its peer's next operation names a leave, not a crash.
TEST(TcpCommunicatorTest, AnInterruptedRankLeavesAndItsPeerSeesALeave) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  auto leaving = std::async(std::launch::async, [&] {
    uint32_t command = 0;
    const absl::Status waited = world[1]->Broadcast(&command, sizeof(command), 0, kTimeout);
    EXPECT_EQ(waited.code(), absl::StatusCode::kCancelled) << waited;
    EXPECT_TRUE(world[1]->health().ok()) << world[1]->health();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(world[1]->Leave(milliseconds(3000)).ok());
    // It waited for the peer to close, not for the whole 3 s.
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2500));
    EXPECT_EQ(world[1]->health().code(), absl::StatusCode::kCancelled);
  });
  std::this_thread::sleep_for(milliseconds(200));
  world[1]->Interrupt();
  // Rank 0's next operation (the leader's heartbeat) comes after rank 1 left.
  std::this_thread::sleep_for(milliseconds(300));
  const absl::Status seen = world[0]->Barrier(kTimeout);
  EXPECT_EQ(seen.code(), absl::StatusCode::kUnavailable) << seen;
  EXPECT_NE(std::string(seen.message()).find("rank 1 ("), std::string::npos) << seen;
  EXPECT_NE(std::string(seen.message()).find("left the group"), std::string::npos) << seen;
  leaving.get();
  // Every later call fails at once with the same error.
  EXPECT_EQ(world[0]->Barrier(kTimeout).message(), seen.message());
}

// An interrupt does not cut an operation that is moving data: rank 1 enters a large all-reduce
// first (its first chunk goes out at once), is interrupted while it waits for rank 0, and still
// completes with the right sum; only its next operation is refused.
TEST(TcpCommunicatorTest, AnInterruptLetsTheOperationInFlightFinish) {
  World world = MakeWorld(2);
  ASSERT_EQ(world.size(), 2u);
  const size_t count = size_t{4} << 20;
  std::vector<std::vector<float>> data(2, std::vector<float>(count));
  for (int r = 0; r < 2; ++r) {
    for (size_t i = 0; i < count; ++i) data[r][i] = Value(r, i);
  }
  std::thread interrupter([&] {
    std::this_thread::sleep_for(milliseconds(150));
    world[1]->Interrupt();
  });
  OnEveryRank(2, [&](int r) {
    if (r == 0) std::this_thread::sleep_for(milliseconds(400));
    const auto s = world[r]->AllReduceSum(data[r].data(), count, ReduceType::kF32, kTimeout);
    EXPECT_TRUE(s.ok()) << "rank " << r << ": " << s;
  });
  interrupter.join();
  for (size_t i : {size_t{0}, size_t{12345}, count - 1}) {
    EXPECT_EQ(data[0][i], Value(0, i) + Value(1, i)) << i;
  }
  EXPECT_EQ(std::memcmp(data[0].data(), data[1].data(), count * sizeof(float)), 0);
  float v = 1;
  EXPECT_EQ(world[1]->AllReduceSum(&v, 1, ReduceType::kF32, kTimeout).code(),
            absl::StatusCode::kCancelled);
}

// A man in the middle between rank 1 and the leader: forwards both ways; once armed, flips the
// byte at `flip_at` (counted from the arming) of what rank 1 sends, and keeps a copy of it.
class Proxy {
 public:
  explicit Proxy(uint16_t leader_port) : leader_port_(leader_port) {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accepter_ = std::thread([this] { Run(); });
  }
  ~Proxy() {
    shutdown(listen_, SHUT_RDWR);
    if (client_ >= 0) shutdown(client_, SHUT_RDWR);
    if (server_ >= 0) shutdown(server_, SHUT_RDWR);
    accepter_.join();
    for (auto& t : pumps_) t.join();
    for (int fd : {listen_, client_, server_}) {
      if (fd >= 0) close(fd);
    }
  }
  uint16_t port() const { return port_; }
  // `from_leader`: alter what the leader sends instead.
  void Arm(std::optional<size_t> flip_at, bool from_leader = false) {
    std::lock_guard<std::mutex> lock(mu_);
    flip_at_ = flip_at;
    from_leader_ = from_leader;
    seen_ = 0;
    captured_.clear();
    armed_ = true;
  }
  // Sends `bytes` to the leader as if rank 1 had (nothing else may be in flight).
  void Inject(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(send(server_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  std::string Captured() {
    std::lock_guard<std::mutex> lock(mu_);
    return captured_;
  }

 private:
  void Run() {
    client_ = accept(listen_, nullptr, nullptr);
    if (client_ < 0) return;
    server_ = RawConnect(leader_port_);
    pumps_.emplace_back([this] { Pump(client_, server_, true); });
    pumps_.emplace_back([this] { Pump(server_, client_, false); });
  }
  void Pump(int from, int to, bool from_rank1) {
    char buf[65536];
    while (true) {
      const ssize_t n = recv(from, buf, sizeof(buf), 0);
      if (n <= 0) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (armed_ && from_rank1 != from_leader_) {
          if (flip_at_ && *flip_at_ >= seen_ && *flip_at_ < seen_ + static_cast<size_t>(n)) {
            buf[*flip_at_ - seen_] ^= 0x01;
          }
          seen_ += static_cast<size_t>(n);
          captured_.append(buf, static_cast<size_t>(n));
        }
      }
      if (send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    shutdown(to, SHUT_WR);
  }
  uint16_t leader_port_;
  uint16_t port_ = 0;
  int listen_ = -1;
  int client_ = -1;
  int server_ = -1;
  std::thread accepter_;
  std::vector<std::thread> pumps_;
  std::mutex mu_;
  bool armed_ = false;
  bool from_leader_ = false;
  std::optional<size_t> flip_at_;
  size_t seen_ = 0;
  std::string captured_;
};

// A world of two whose only link runs through `proxy`.
World WorldThroughProxy(std::unique_ptr<Proxy>& proxy, bool encrypt) {
  TcpOptions o0 = Options(0, 2);
  o0.encrypt = encrypt;
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, o0);
  EXPECT_TRUE(rendezvous.ok());
  proxy = std::make_unique<Proxy>((*rendezvous)->port());
  World world(2);
  auto joiner = std::async(std::launch::async, [&] {
    TcpOptions o1 = Options(1, 2);
    o1.encrypt = encrypt;
    return JoinTcp("127.0.0.1:" + std::to_string(proxy->port()), o1);
  });
  auto c0 = (*rendezvous)->Accept(kTimeout);
  auto c1 = joiner.get();
  EXPECT_TRUE(c0.ok() && c1.ok()) << c0.status() << " " << c1.status();
  if (!c0.ok() || !c1.ok()) return {};
  world[0] = *std::move(c0);
  world[1] = *std::move(c1);
  return world;
}

// Every frame after the handshake is sealed: one flipped bit on the wire (here in the payload
// of rank 1's part of an all-reduce) closes the link with the check named, on both ranks.
TEST(TcpCommunicatorTest, AFlippedByteOnTheWireClosesTheLinkNamingTheCheck) {
  for (size_t flip_at : {size_t{100}, size_t{5}, size_t{24 + 4096 + 3}}) {
    std::unique_ptr<Proxy> proxy;
    World world = WorldThroughProxy(proxy, /*encrypt=*/false);
    ASSERT_EQ(world.size(), 2u);
    proxy->Arm(flip_at);
    std::vector<std::vector<float>> data(2, std::vector<float>(1024, 1.0f));
    absl::Status seen[2];
    OnEveryRank(2, [&](int r) {
      seen[r] = world[r]->AllReduceSum(data[r].data(), 1024, ReduceType::kF32, kTimeout);
    });
    // Rank 0 received the altered frame; rank 1, whose own data arrived intact, may finish this
    // operation but not the next: the leader closed the link.
    EXPECT_FALSE(seen[0].ok());
    std::cout << "byte " << flip_at << " flipped: rank 0: " << seen[0] << "\n";
    EXPECT_FALSE(world[1]->Barrier(kTimeout).ok());
    const std::string m(seen[0].message());
    EXPECT_NE(m.find("rank 1 ("), std::string::npos) << seen[0];
    if (flip_at >= kFrameHeaderBytes) {
      // Payload or seal: the integrity check fails.
      EXPECT_EQ(seen[0].code(), absl::StatusCode::kDataLoss) << seen[0];
      EXPECT_NE(m.find("failed its integrity check"), std::string::npos) << seen[0];
    } else {
      // A header byte: refused before its payload is read.
      EXPECT_NE(m.find("altered in transit"), std::string::npos) << seen[0];
    }
    // The link is closed: later operations fail at once with the same error.
    EXPECT_EQ(world[0]->Barrier(kTimeout).message(), seen[0].message());
  }
}

// A Leave frame is sealed like any other: one forged on the wire closes the link as an altered
// frame, not as a rank that left.
TEST(TcpCommunicatorTest, AForgedLeaveIsAnAlteredFrame) {
  std::unique_ptr<Proxy> proxy;
  World world = WorldThroughProxy(proxy, /*encrypt=*/false);
  ASSERT_EQ(world.size(), 2u);
  const auto header = EncodeFrameHeader({FrameType::kLeave, 0, 0, 0});
  proxy->Inject(std::string(reinterpret_cast<const char*>(header.data()), header.size()) +
                std::string(kFrameSealBytes, 'x'));
  const absl::Status seen = world[0]->Barrier(kTimeout);
  EXPECT_EQ(seen.code(), absl::StatusCode::kDataLoss) << seen;
  EXPECT_NE(std::string(seen.message()).find("a Leave frame 0 failed its integrity check"),
            std::string::npos)
      << seen;
}

// The leader's peer table is sealed too: a flipped byte in it fails the join, naming it.
TEST(TcpRendezvousTest, AnAlteredPeerTableFailsTheJoin) {
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, Options(0, 2));
  ASSERT_TRUE(rendezvous.ok());
  Proxy proxy((*rendezvous)->port());
  // What the leader sends rank 1: Challenge, Welcome, then the table; flip its third byte.
  const size_t challenge = kFrameHeaderBytes + EncodeChallenge(ChallengeMessage{}).size();
  proxy.Arm(challenge + kFrameHeaderBytes + kFrameHeaderBytes + 2, /*from_leader=*/true);
  auto joiner = std::async(std::launch::async, [&] {
    return JoinTcp("127.0.0.1:" + std::to_string(proxy.port()), Options(1, 2));
  });
  auto leader = (*rendezvous)->Accept(kTimeout);
  auto joined = joiner.get();
  EXPECT_EQ(joined.status().code(), absl::StatusCode::kDataLoss) << joined.status();
  EXPECT_NE(std::string(joined.status().message())
                .find("peer table whose frame 0 failed its "
                      "integrity check"),
            std::string::npos)
      << joined.status();
}

// With encrypt, the payload on the wire is not the data; without it, it is.
TEST(TcpCommunicatorTest, EncryptedFramesDoNotCarryThePlaintext) {
  for (bool encrypt : {false, true}) {
    std::unique_ptr<Proxy> proxy;
    World world = WorldThroughProxy(proxy, encrypt);
    ASSERT_EQ(world.size(), 2u);
    proxy->Arm(std::nullopt);
    const std::string marker = "libinfer-plaintext-marker-0123456789abcdef";
    std::vector<std::string> data(2, std::string(4096, 'x'));
    for (auto& d : data) d.replace(1000, marker.size(), marker);
    OnEveryRank(2, [&](int r) {
      std::string recv(2 * 4096, '\0');
      EXPECT_TRUE(world[r]->AllGather(data[r].data(), 4096, recv.data(), kTimeout).ok());
      EXPECT_EQ(recv.substr(4096 + 1000, marker.size()), marker);
    });
    const bool on_wire = proxy->Captured().find(marker) != std::string::npos;
    EXPECT_EQ(on_wire, !encrypt) << (encrypt ? "encrypted" : "sealed only");
  }
}

// A LeaderWorkerSet pod's DNS record appears some time after the pod: a rank whose leader's name
// does not resolve yet keeps trying (with backoff, logging the cause once, not on every try)
// and joins once the name is known.
TEST(TcpRendezvousTest, ARankWaitsForTheLeadersNameToResolve) {
  LogCapture log;
  SetMinLogSeverity(LogSeverity::kInfo);
  struct Restore {
    ~Restore() { SetMinLogSeverity(LogSeverity::kWarning); }
  } restore;
  auto rendezvous = TcpRendezvous::Listen("127.0.0.1", 0, Options(0, 2));
  ASSERT_TRUE(rendezvous.ok());
  const std::string name = "libinfer-0.libinfer.llm";
  const auto known_at = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::atomic<int> lookups{0};
  auto joiner = std::async(std::launch::async, [&] {
    TcpOptions o = Options(1, 2);
    o.resolver = [&](std::string_view host) -> absl::StatusOr<std::vector<std::string>> {
      ++lookups;
      if (host != name) return absl::NotFoundError("asked for another name");
      if (std::chrono::steady_clock::now() < known_at) {
        return absl::NotFoundError("'" + name + "': Name or service not known");
      }
      return std::vector<std::string>{"127.0.0.1"};
    };
    return JoinTcp(name + ":" + std::to_string((*rendezvous)->port()), o);
  });
  auto leader = (*rendezvous)->Accept(kTimeout);
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto worker = joiner.get();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_GE(std::chrono::steady_clock::now(), known_at);
  float v = 1;
  OnEveryRank(2, [&](int r) {
    float mine = 1;
    auto& c = r == 0 ? *leader : *worker;
    EXPECT_TRUE(c->AllReduceSum(r == 0 ? &v : &mine, 1, ReduceType::kF32, kTimeout).ok());
  });
  EXPECT_EQ(v, 2.0f);
  // Backoff: a handful of lookups in 3 s, not one every 20 ms.
  EXPECT_GE(lookups.load(), 3);
  EXPECT_LE(lookups.load(), 12);
  // The cause is logged once for these 3 s (it does not change and 10 s have not passed).
  const std::string all = log.All();
  const std::string line = "cannot reach " + name;
  const size_t first = all.find(line);
  ASSERT_NE(first, std::string::npos) << all;
  EXPECT_NE(all.find("Name or service not known", first), std::string::npos) << all;
  EXPECT_EQ(all.find(line, first + 1), std::string::npos) << all;
}

TEST(TcpRendezvousTest, ANameThatNeverResolvesFailsAtTheJoinDeadlineNamingIt) {
  TcpOptions o = Options(1, 2);
  o.join_timeout = milliseconds(700);
  o.resolver = [](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
    return absl::NotFoundError("'nowhere.invalid': Name or service not known");
  };
  const auto start = std::chrono::steady_clock::now();
  auto c = JoinTcp("nowhere.invalid:29500", o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDeadlineExceeded) << c.status();
  EXPECT_NE(std::string(c.status().message()).find("nowhere.invalid:29500"), std::string::npos)
      << c.status();
  EXPECT_NE(std::string(c.status().message()).find("Name or service not known"), std::string::npos)
      << c.status();
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(700));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// The system resolver gives numeric addresses, and a name it cannot resolve is an error.
TEST(TcpSocketTest, SystemResolveGivesNumericAddresses) {
  auto local = SystemResolve("127.0.0.1");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, std::vector<std::string>{"127.0.0.1"});
  EXPECT_FALSE(SystemResolve("no-such-host.invalid").ok());
}

// Writes the fuzz seed corpus when INFER_WRITE_COMM_SEEDS names a folder:
//   INFER_WRITE_COMM_SEEDS=tests/data/comm/fuzz_comm_frame build/tests/comm/comm_test
//     --gtest_filter='*Seeds*'   (one command line)
// The fuzz target's first byte picks the decoder (see fuzz/fuzz_comm_frame.cc).
// A sealed frame as fuzz_comm_frame's case 5 reads it, under its fixed key.
std::string SealedSeed(bool encrypt) {
  LinkKey key;
  key.fill(0x42);
  FrameSealer out(key, encrypt);
  const std::string payload = "sixteen payload bytes and more";
  const auto header = EncodeFrameHeader({FrameType::kAllReduce, 7, 3, payload.size()});
  std::vector<uint8_t> plain(payload.begin(), payload.end()), cipher(payload.size());
  auto tag = out.Seal(header, plain, encrypt ? cipher.data() : nullptr);
  EXPECT_TRUE(tag.ok());
  std::string seed(1, '\5');
  seed.push_back(encrypt ? 1 : 0);
  seed.append(reinterpret_cast<const char*>(header.data()), header.size());
  seed.append(reinterpret_cast<const char*>(tag->data()), tag->size());
  const std::vector<uint8_t>& wire = encrypt ? cipher : plain;
  seed.append(reinterpret_cast<const char*>(wire.data()), wire.size());
  return seed;
}

TEST(FuzzSeedsTest, WriteWhenAsked) {
  const char* dir = std::getenv("INFER_WRITE_COMM_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "INFER_WRITE_COMM_SEEDS not set";
  HelloMessage hello;
  hello.rank = 1;
  hello.world_size = 4;
  hello.listen_port = 41234;
  hello.host = "10.0.0.2";
  PeerTableMessage table;
  table.peers = {{"", 0}, {"10.0.0.2", 41234}, {"10.0.0.3", 41235}};
  ChallengeMessage challenge{0, 4, {}, {}};
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"frame_allreduce", std::string(1, '\0') + EncodeFrame(FrameType::kAllReduce, 7, 3, "abcd")},
      {"frame_barrier", std::string(1, '\0') + EncodeFrame(FrameType::kBarrier, 1, 1, "")},
      {"hello", std::string(1, '\1') + EncodeHello(hello)},
      {"challenge", std::string(1, '\2') + EncodeChallenge(challenge)},
      {"proof", std::string(1, '\3') + EncodeProof({})},
      {"peer_table", std::string(1, '\4') + EncodePeerTable(table)},
      {"sealed_allreduce", SealedSeed(false)},
      {"sealed_encrypted", SealedSeed(true)},
  };
  for (const auto& [name, bytes] : seeds) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << bytes;
  }
}

}  // namespace
}  // namespace infer::comm
