// What the leader of a cluster sends its workers: one command per step or cache operation,
// broadcast as a fixed header and then a payload, and the status record every rank answers a
// load or a cache creation with. Decoding checks every count against the bytes it has and the
// limits given, so a malformed payload is an error, never a crash.
#ifndef INFER_CLUSTER_STEP_PROTOCOL_H_
#define INFER_CLUSTER_STEP_PROTOCOL_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/model/batch.h"

namespace infer::cluster {

enum class CommandKind : uint32_t {
  kLoad = 1,         // LoadCommand
  kCreateCache = 2,  // CacheCommand
  kFreeCache = 3,    // CacheCommand (id only)
  kForward = 4,      // ForwardCommand
  kPing = 5,         // no payload; a barrier follows
  kShutdown = 6,     // no payload; workers leave
};

// Broadcast first, so that every rank knows how many payload bytes follow.
struct CommandHeader {
  CommandKind kind = CommandKind::kPing;
  uint64_t payload_bytes = 0;
};
inline constexpr size_t kCommandHeaderBytes = 16;
std::array<uint8_t, kCommandHeaderBytes> EncodeHeader(const CommandHeader& header);
// InvalidArgument for an unknown kind or a payload over `max_payload_bytes`.
absl::StatusOr<CommandHeader> DecodeHeader(std::span<const uint8_t> bytes,
                                           uint64_t max_payload_bytes);

// Load this rank's slice of the model at `path` (the same path on every host).
struct LoadCommand {
  std::string path;
};
std::vector<uint8_t> Encode(const LoadCommand& c);
absl::StatusOr<LoadCommand> DecodeLoad(std::span<const uint8_t> bytes);

struct CacheCommand {
  uint64_t id = 0;
  int64_t block_size = 0;
  int64_t num_blocks = 0;
};
std::vector<uint8_t> Encode(const CacheCommand& c);
absl::StatusOr<CacheCommand> DecodeCache(std::span<const uint8_t> bytes);

// A step: the cache it runs on and the flat batch. The decoded batch's block tables point into
// `tables`.
struct ForwardCommand {
  uint64_t cache_id = 0;
  ForwardBatch batch;
  std::vector<int32_t> tables;
};
std::vector<uint8_t> Encode(uint64_t cache_id, const ForwardBatch& batch);
// InvalidArgument naming what does not add up (counts, table lengths, trailing bytes).
absl::Status DecodeForward(std::span<const uint8_t> bytes, ForwardCommand* out);

}  // namespace infer::cluster

#endif  // INFER_CLUSTER_STEP_PROTOCOL_H_
