// The wire format: frame headers and handshake messages round-trip, and every bad field is
// refused with InvalidArgument naming it (never a crash: the fuzzer covers arbitrary bytes).
#include "libinfer/comm/frame.h"

#include <string>

#include "gtest/gtest.h"

namespace infer::comm {
namespace {

std::string HeaderBytes(const FrameHeader& h) {
  const auto a = EncodeFrameHeader(h);
  return std::string(reinterpret_cast<const char*>(a.data()), a.size());
}

void ExpectBad(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find(field), std::string::npos) << s;
}

TEST(FrameHeaderTest, RoundTrips) {
  const FrameHeader h{FrameType::kAllReduce, 0xdeadbeef, 77, 123456789};
  auto parsed = ParseFrameHeader(HeaderBytes(h));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->type, FrameType::kAllReduce);
  EXPECT_EQ(parsed->group, 0xdeadbeefu);
  EXPECT_EQ(parsed->sequence, 77u);
  EXPECT_EQ(parsed->length, 123456789u);
  // Little-endian magic on the wire.
  EXPECT_EQ(HeaderBytes(h).substr(0, 4), "ICMF");
}

TEST(FrameHeaderTest, RejectsEveryBadField) {
  const std::string good = HeaderBytes({FrameType::kBarrier, 1, 2, 3});
  for (size_t n = 0; n < kFrameHeaderBytes; ++n) {
    ExpectBad(ParseFrameHeader(good.substr(0, n)).status(), "truncated");
  }
  std::string bad = good;
  bad[0] ^= 1;
  ExpectBad(ParseFrameHeader(bad).status(), "'magic'");
  bad = good;
  bad[4] = 1;  // version 1: frames without seals
  ExpectBad(ParseFrameHeader(bad).status(), "'version'");
  for (int type : {0, 7, 15, 21, 255}) {
    bad = good;
    bad[6] = static_cast<char>(type);
    ExpectBad(ParseFrameHeader(bad).status(), "'type'");
  }
  bad = good;
  bad[7] = 1;
  ExpectBad(ParseFrameHeader(bad).status(), "'reserved'");
  ExpectBad(ParseFrameHeader(HeaderBytes({FrameType::kBarrier, 0, 0, 101}), 100).status(),
            "'length'");
  EXPECT_TRUE(ParseFrameHeader(HeaderBytes({FrameType::kBarrier, 0, 0, 100}), 100).ok());
  // The default limit is 1 GiB.
  ExpectBad(ParseFrameHeader(HeaderBytes({FrameType::kBarrier, 0, 0, (1ull << 30) + 1})).status(),
            "'length'");
  ExpectBad(ParseFrameHeader(HeaderBytes({FrameType::kBarrier, 0, 0, ~0ull})).status(), "'length'");
}

HelloMessage SampleHello() {
  HelloMessage m;
  m.rank = 3;
  m.world_size = 4;
  m.target_rank = 1;
  m.listen_port = 40000;
  m.host = "10.0.0.7";
  for (size_t i = 0; i < m.nonce.size(); ++i) m.nonce[i] = static_cast<uint8_t>(i * 7);
  return m;
}

TEST(HandshakeTest, HelloRoundTripsAndRejectsBadFields) {
  const HelloMessage m = SampleHello();
  const std::string enc = EncodeHello(m);
  auto d = DecodeHello(enc);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->rank, 3);
  EXPECT_EQ(d->world_size, 4);
  EXPECT_EQ(d->target_rank, 1);
  EXPECT_EQ(d->listen_port, 40000);
  EXPECT_EQ(d->host, "10.0.0.7");
  EXPECT_EQ(d->nonce, m.nonce);
  for (size_t n = 0; n < enc.size(); ++n) {
    EXPECT_EQ(DecodeHello(enc.substr(0, n)).status().code(), absl::StatusCode::kInvalidArgument);
  }
  ExpectBad(DecodeHello(enc + "x").status(), "trailing");
  auto with = [](auto edit) {
    HelloMessage h = SampleHello();
    edit(h);
    return DecodeHello(EncodeHello(h)).status();
  };
  ExpectBad(with([](HelloMessage& h) { h.world_size = 0; }), "'world_size'");
  ExpectBad(with([](HelloMessage& h) { h.world_size = kMaxWorldSize + 1; }), "'world_size'");
  ExpectBad(with([](HelloMessage& h) { h.rank = 0; }), "'rank'");  // rank 0 never connects
  ExpectBad(with([](HelloMessage& h) { h.rank = 4; }), "'rank'");
  ExpectBad(with([](HelloMessage& h) { h.rank = -1; }), "'rank'");
  ExpectBad(with([](HelloMessage& h) { h.target_rank = 4; }), "'target_rank'");
  ExpectBad(with([](HelloMessage& h) { h.target_rank = 3; }), "'target_rank'");
  ExpectBad(with([](HelloMessage& h) { h.host = "a\nb"; }), "'host'");
  ExpectBad(with([](HelloMessage& h) { h.host = "a b"; }), "'host'");
}

TEST(HandshakeTest, ChallengeAndProofRoundTripAndRejectBadFields) {
  ChallengeMessage c{2, 3, {}, {}};
  c.nonce[0] = 9;
  c.tag[31] = 4;
  const std::string enc = EncodeChallenge(c);
  auto d = DecodeChallenge(enc);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->rank, 2);
  EXPECT_EQ(d->nonce, c.nonce);
  EXPECT_EQ(d->tag, c.tag);
  for (size_t n = 0; n < enc.size(); ++n) ExpectBad(DecodeChallenge(enc.substr(0, n)).status(), "");
  ExpectBad(DecodeChallenge(enc + "x").status(), "trailing");
  ExpectBad(DecodeChallenge(EncodeChallenge({3, 3, {}, {}})).status(), "'rank'");
  ExpectBad(DecodeChallenge(EncodeChallenge({0, 0, {}, {}})).status(), "'world_size'");

  ProofMessage p;
  p.tag[0] = 1;
  ASSERT_TRUE(DecodeProof(EncodeProof(p)).ok());
  EXPECT_EQ(DecodeProof(EncodeProof(p))->tag, p.tag);
  ExpectBad(DecodeProof(EncodeProof(p).substr(1)).status(), "'tag'");
  ExpectBad(DecodeProof(EncodeProof(p) + "x").status(), "trailing");
}

TEST(HandshakeTest, PeerTableRoundTripsAndRejectsBadFields) {
  PeerTableMessage t;
  t.peers = {{"", 0}, {"127.0.0.1", 1234}, {"::1", 65535}};
  const std::string enc = EncodePeerTable(t);
  auto d = DecodePeerTable(enc);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->peers.size(), 3u);
  EXPECT_EQ(d->peers[1].host, "127.0.0.1");
  EXPECT_EQ(d->peers[2].port, 65535);
  for (size_t n = 0; n < enc.size(); ++n) ExpectBad(DecodePeerTable(enc.substr(0, n)).status(), "");
  ExpectBad(DecodePeerTable(enc + "x").status(), "trailing");
  ExpectBad(DecodePeerTable(EncodePeerTable({})).status(), "'count'");
  std::string huge = enc;
  huge[0] = huge[1] = huge[2] = '\xff';
  huge[3] = 0x7f;
  ExpectBad(DecodePeerTable(huge).status(), "'count'");
  std::string many = enc;
  many[0] = 100;  // more entries than the bytes can hold
  ExpectBad(DecodePeerTable(many).status(), "truncated");
}

TEST(HandshakeTest, TranscriptBindsRoleRanksAndNonces) {
  const HelloMessage h = SampleHello();
  const Nonce n{};
  const std::string base = HandshakeTranscript("server", h, n);
  EXPECT_NE(base, HandshakeTranscript("client", h, n));
  HelloMessage other = h;
  other.rank = 2;
  EXPECT_NE(base, HandshakeTranscript("server", other, n));
  other = h;
  other.world_size = 5;
  EXPECT_NE(base, HandshakeTranscript("server", other, n));
  Nonce n2{};
  n2[5] = 1;
  EXPECT_NE(base, HandshakeTranscript("server", h, n2));
}

}  // namespace
}  // namespace infer::comm
