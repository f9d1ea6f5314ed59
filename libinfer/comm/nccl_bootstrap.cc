// The part of forming an NCCL group that needs no GPU: the readiness records the ranks exchange
// over the bootstrap communicator before any of them touches NCCL.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/comm/nccl_communicator.h"

namespace infer::comm {

// Record: byte 0 the status code, bytes 1-2 the message length (little-endian), then the
// message, cut to fit.
std::array<uint8_t, kNcclReadyRecordBytes> EncodeReady(const absl::Status& status) {
  std::array<uint8_t, kNcclReadyRecordBytes> r{};
  r[0] = static_cast<uint8_t>(status.code());
  const size_t n = std::min<size_t>(status.message().size(), kNcclReadyRecordBytes - 3);
  r[1] = static_cast<uint8_t>(n & 0xff);
  r[2] = static_cast<uint8_t>(n >> 8);
  if (n > 0) std::memcpy(r.data() + 3, status.message().data(), n);
  return r;
}

absl::Status DecodeReady(std::span<const uint8_t> record) {
  if (record.size() != kNcclReadyRecordBytes) {
    return absl::InternalError(absl::StrCat("NCCL readiness record of ", record.size(),
                                            " bytes, expected ", kNcclReadyRecordBytes));
  }
  const uint8_t code = record[0];
  const size_t n = record[1] | (static_cast<size_t>(record[2]) << 8);
  if (code > static_cast<uint8_t>(absl::StatusCode::kUnauthenticated) ||
      n > kNcclReadyRecordBytes - 3) {
    return absl::InternalError("malformed NCCL readiness record");
  }
  if (code == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(code),
                      std::string(reinterpret_cast<const char*>(record.data()) + 3, n));
}

absl::Status AgreeReady(Communicator& bootstrap, const absl::Status& mine, Timeout timeout) {
  const auto record = EncodeReady(mine);
  std::vector<uint8_t> all(kNcclReadyRecordBytes * static_cast<size_t>(bootstrap.size()));
  if (absl::Status s = bootstrap.AllGather(record.data(), record.size(), all.data(), timeout);
      !s.ok()) {
    return s;
  }
  for (int r = 0; r < bootstrap.size(); ++r) {
    absl::Status s = DecodeReady(std::span<const uint8_t>(
        all.data() + static_cast<size_t>(r) * kNcclReadyRecordBytes, kNcclReadyRecordBytes));
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("rank ", r, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace infer::comm
