// Frame seals: both sides derive crossed keys from one handshake; a sealed frame opens once, in
// order, unchanged; a changed header or payload byte, a replay, a drop or a reorder fails with
// DataLoss; with encryption the payload on the wire is not the plaintext; ranks that disagree on
// encryption fail every frame.
#include "libinfer/comm/frame_seal.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace infer::comm {
namespace {

constexpr char kSecret[] = "test-secret-0123456789abcdef";

HelloMessage Hello() {
  HelloMessage h;
  h.rank = 1;
  h.world_size = 2;
  h.target_rank = 0;
  h.listen_port = 4242;
  for (size_t i = 0; i < h.nonce.size(); ++i) h.nonce[i] = static_cast<uint8_t>(i * 7);
  return h;
}

Nonce ServerNonce() {
  Nonce n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(200 - i);
  return n;
}

struct Frame {
  std::array<uint8_t, kFrameHeaderBytes> header;
  std::vector<uint8_t> payload;  // as sent on the wire
  SealTag tag;
};

Frame SealOne(FrameSealer& out, uint32_t sequence, const std::vector<uint8_t>& payload) {
  Frame f;
  f.header = EncodeFrameHeader({FrameType::kAllReduce, 7, sequence, payload.size()});
  f.payload = payload;
  std::vector<uint8_t> cipher(payload.size());
  auto tag = out.Seal(f.header, payload, out.encrypt() ? cipher.data() : nullptr);
  EXPECT_TRUE(tag.ok()) << tag.status();
  if (out.encrypt()) f.payload = cipher;
  f.tag = *tag;
  return f;
}

absl::Status OpenOne(FrameSealer& in, Frame f, std::vector<uint8_t>* plain = nullptr) {
  absl::Status s = in.Open(f.header, f.payload, f.tag);
  if (plain != nullptr) *plain = f.payload;
  return s;
}

std::vector<uint8_t> Payload(size_t n, uint8_t seed) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 31);
  return p;
}

TEST(FrameSealTest, BothSidesDeriveCrossedKeysBoundToTheMode) {
  auto c = DeriveLinkKeys(kSecret, Hello(), ServerNonce(), /*connecting=*/true, false);
  auto a = DeriveLinkKeys(kSecret, Hello(), ServerNonce(), /*connecting=*/false, false);
  ASSERT_TRUE(c.ok() && a.ok());
  EXPECT_EQ(c->send, a->recv);
  EXPECT_EQ(c->recv, a->send);
  EXPECT_NE(c->send, c->recv);
  auto encrypted = DeriveLinkKeys(kSecret, Hello(), ServerNonce(), true, true);
  EXPECT_NE(encrypted->send, c->send);
  auto other_secret =
      DeriveLinkKeys("another-secret-0123456789", Hello(), ServerNonce(), true, false);
  EXPECT_NE(other_secret->send, c->send);
  HelloMessage other = Hello();
  other.nonce[0] ^= 1;
  EXPECT_NE(DeriveLinkKeys(kSecret, other, ServerNonce(), true, false)->send, c->send);
}

class FrameSealModeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    keys_ = *DeriveLinkKeys(kSecret, Hello(), ServerNonce(), true, GetParam());
  }
  FrameSealer Sender() const { return FrameSealer(keys_.send, GetParam()); }
  FrameSealer Receiver() const { return FrameSealer(keys_.send, GetParam()); }  // the peer's recv
  LinkKeys keys_;
};

TEST_P(FrameSealModeTest, FramesOpenInOrderUnchanged) {
  FrameSealer out = Sender(), in = Receiver();
  for (uint32_t i = 0; i < 5; ++i) {
    const std::vector<uint8_t> sent = Payload(100 * i, static_cast<uint8_t>(i));
    Frame f = SealOne(out, i, sent);
    if (GetParam() && !sent.empty()) {
      EXPECT_NE(f.payload, sent) << "the encrypted payload is the plaintext";
    } else {
      EXPECT_EQ(f.payload, sent);
    }
    std::vector<uint8_t> got;
    ASSERT_TRUE(OpenOne(in, f, &got).ok()) << i;
    EXPECT_EQ(got, sent);
  }
  EXPECT_EQ(out.counter(), 5u);
  EXPECT_EQ(in.counter(), 5u);
}

TEST_P(FrameSealModeTest, AnyChangedByteFailsTheCheck) {
  const std::vector<uint8_t> sent = Payload(300, 9);
  for (size_t at : {size_t{0}, size_t{12}, size_t{16}, size_t{23}, size_t{24}, size_t{200},
                    size_t{323}, size_t{330}}) {
    FrameSealer out = Sender(), in = Receiver();
    Frame f = SealOne(out, 1, sent);
    if (at < kFrameHeaderBytes) {
      f.header[at] ^= 0x10;
    } else if (at < kFrameHeaderBytes + f.payload.size()) {
      f.payload[at - kFrameHeaderBytes] ^= 0x10;
    } else {
      f.tag[at - kFrameHeaderBytes - f.payload.size()] ^= 0x10;
    }
    const absl::Status s = OpenOne(in, f);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << at << ": " << s;
    EXPECT_NE(std::string(s.message()).find("integrity"), std::string::npos) << s;
    EXPECT_EQ(in.counter(), 0u);
  }
}

TEST_P(FrameSealModeTest, ReplayedDroppedAndReorderedFramesFail) {
  FrameSealer out = Sender(), in = Receiver();
  const Frame f0 = SealOne(out, 0, Payload(64, 1));
  const Frame f1 = SealOne(out, 1, Payload(64, 2));
  const Frame f2 = SealOne(out, 2, Payload(64, 3));
  EXPECT_EQ(OpenOne(in, f1).code(), absl::StatusCode::kDataLoss);  // f0 dropped or reordered
  ASSERT_TRUE(OpenOne(in, f0).ok());
  EXPECT_EQ(OpenOne(in, f0).code(), absl::StatusCode::kDataLoss);  // replayed
  EXPECT_EQ(OpenOne(in, f2).code(), absl::StatusCode::kDataLoss);  // f1 dropped
  ASSERT_TRUE(OpenOne(in, f1).ok());
  ASSERT_TRUE(OpenOne(in, f2).ok());
}

TEST_P(FrameSealModeTest, TheOtherDirectionsKeyDoesNotOpen) {
  FrameSealer out = Sender();
  FrameSealer wrong(keys_.recv, GetParam());
  EXPECT_EQ(OpenOne(wrong, SealOne(out, 0, Payload(32, 5))).code(), absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(IntegrityAndEncryption, FrameSealModeTest, ::testing::Bool());

TEST(FrameSealTest, RanksThatDisagreeOnEncryptionFailEveryFrame) {
  const LinkKeys keys = *DeriveLinkKeys(kSecret, Hello(), ServerNonce(), true, false);
  FrameSealer out(keys.send, /*encrypt=*/true);
  FrameSealer in(keys.send, /*encrypt=*/false);
  EXPECT_EQ(OpenOne(in, SealOne(out, 0, Payload(48, 1))).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace infer::comm
