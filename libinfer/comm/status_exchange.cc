#include "libinfer/comm/status_exchange.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

namespace infer::comm {

std::array<uint8_t, kStatusRecordBytes> EncodeStatus(const absl::Status& status) {
  std::array<uint8_t, kStatusRecordBytes> out{};
  const int32_t code = static_cast<int32_t>(status.code());
  std::memcpy(out.data(), &code, 4);
  const std::string_view msg(status.message().data(), status.message().size());
  if (!msg.empty()) {
    std::memcpy(out.data() + 4, msg.data(), std::min(msg.size(), kStatusRecordBytes - 5));
  }
  return out;
}

absl::Status DecodeStatus(std::span<const uint8_t> bytes) {
  if (bytes.size() != kStatusRecordBytes) return absl::InternalError("bad status record size");
  int32_t code;
  std::memcpy(&code, bytes.data(), 4);
  if (code == 0) return absl::OkStatus();
  if (code < 0 || code > 16) code = static_cast<int32_t>(absl::StatusCode::kUnknown);
  const char* msg = reinterpret_cast<const char*>(bytes.data() + 4);
  return absl::Status(static_cast<absl::StatusCode>(code),
                      std::string(msg, strnlen(msg, kStatusRecordBytes - 4)));
}

absl::Status AgreeStatus(Communicator& group, const absl::Status& mine, Timeout timeout) {
  const auto record = EncodeStatus(mine);
  std::vector<uint8_t> all(kStatusRecordBytes * static_cast<size_t>(group.size()));
  if (absl::Status s = group.AllGather(record.data(), record.size(), all.data(), timeout);
      !s.ok()) {
    return s;
  }
  for (int r = 0; r < group.size(); ++r) {
    absl::Status s = DecodeStatus(std::span<const uint8_t>(
        all.data() + static_cast<size_t>(r) * kStatusRecordBytes, kStatusRecordBytes));
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("rank ", r, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace infer::comm
