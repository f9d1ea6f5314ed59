// Agreeing on a Status across the ranks of a group: each rank's status in a fixed-size record,
// gathered by every rank at once, so that a failure on one rank (a load that failed, a GPU
// missing) reaches all of them together, naming the rank, instead of leaving the others waiting
// for a step that will not come. The cluster's loads and cache creations and the NCCL group's
// formation use it.
#ifndef INFER_COMM_STATUS_EXCHANGE_H_
#define INFER_COMM_STATUS_EXCHANGE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "libinfer/comm/communicator.h"

namespace infer::comm {

// A status as a record: the code (4 bytes), then the message, cut to fit, NUL-padded.
inline constexpr size_t kStatusRecordBytes = 512;
std::array<uint8_t, kStatusRecordBytes> EncodeStatus(const absl::Status& status);
// Internal for a record of the wrong size; an unknown code decodes as kUnknown.
absl::Status DecodeStatus(std::span<const uint8_t> bytes);

// Every rank's `mine`, exchanged over `group` (an AllGather): OK when every rank is OK, else the
// first failing rank's status with "rank R: " before its message; the communicator's own error
// when the exchange fails.
absl::Status AgreeStatus(Communicator& group, const absl::Status& mine, Timeout timeout);

}  // namespace infer::comm

#endif  // INFER_COMM_STATUS_EXCHANGE_H_
