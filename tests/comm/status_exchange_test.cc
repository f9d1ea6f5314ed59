// Status records and agreeing on a status over a TCP group of threads.
#include "libinfer/comm/status_exchange.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/comm/tcp_world.h"

namespace infer::comm {
namespace {

TEST(StatusExchangeTest, RecordsRoundTrip) {
  const absl::Status s = absl::NotFoundError("model.gguf: no such file");
  EXPECT_EQ(DecodeStatus(EncodeStatus(s)), s);
  EXPECT_TRUE(DecodeStatus(EncodeStatus(absl::OkStatus())).ok());
  // A long message is cut to the record, not overrun; a record of another size is refused.
  const absl::Status cut = DecodeStatus(EncodeStatus(absl::InternalError(std::string(1000, 'x'))));
  EXPECT_EQ(cut.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(cut.message().size(), kStatusRecordBytes - 5);
  const auto record = EncodeStatus(s);
  EXPECT_EQ(DecodeStatus(std::span<const uint8_t>(record.data(), 10)).code(),
            absl::StatusCode::kInternal);
}

TEST(StatusExchangeTest, AgreeStatusNamesTheFirstFailingRank) {
  World world = MakeWorld(3);
  ASSERT_EQ(world.size(), 3u);
  std::vector<absl::Status> got(3);
  OnEveryRank(3, [&](int r) {
    const absl::Status mine =
        r == 0 ? absl::OkStatus() : absl::FailedPreconditionError("no device " + std::to_string(r));
    got[r] = AgreeStatus(*world[r], mine, kTimeout);
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(got[r].code(), absl::StatusCode::kFailedPrecondition) << r;
    EXPECT_EQ(got[r].message(), "rank 1: no device 1") << r;
  }
}

}  // namespace
}  // namespace infer::comm
