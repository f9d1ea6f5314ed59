// Placement: where the replicas of a model set go, as a pure function of the devices (their
// capacity, what others use, what our replicas have reserved) and the requested replicas (what
// one rank of each costs, how many devices a replica spans). No device is touched: the caller
// takes the plan's reservations before loading starts and gives them back on failure or unload.
//
// The rules:
// - Never overcommit: on every device the reservations placed on it fit in what is available
//   (total - used by others - already reserved).
// - A replica of R ranks (tensor x pipeline parallel) goes to R distinct devices of its kind,
//   one rank each.
// - Requests are placed in order, fixed counts first, then `max` requests, each as many as fit;
//   within a request, replica after replica. Each rank goes to the fitting device with the least
//   room left (best fit: keeps large holes for large replicas), ties broken by device id, so the
//   same input always gives the same plan.
// - A plan is all or nothing: if a fixed replica does not fit, the whole request set is refused,
//   naming the model, the replica and what each device had left. A refusal happens only when, at
//   that point of the plan, no R devices of the kind have the room (the greedy order may refuse
//   a set that another order would fit; it never refuses a replica that fits where it stands).
// - A `max` request places as many replicas as fit, at least one (none is a refusal).
#ifndef INFER_CLUSTER_PLACEMENT_H_
#define INFER_CLUSTER_PLACEMENT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::cluster {

enum class DeviceKind { kHost, kCuda };

// "host" or "cuda".
const char* DeviceKindName(DeviceKind kind);

// One device as placement sees it. Bytes throughout.
struct DeviceCapacity {
  std::string id;  // unique: "host", "cuda:0", ...
  DeviceKind kind = DeviceKind::kHost;
  uint64_t total_bytes = 0;
  // Memory in use by anything that is not one of our replicas (other processes, the driver).
  uint64_t used_by_others_bytes = 0;
  // Memory our replicas hold or have reserved on this device.
  uint64_t reserved_bytes = 0;

  // What a new reservation may take.
  uint64_t available_bytes() const;
};

// Replicas of one model to place.
struct ReplicaRequest {
  std::string model;  // the served name, unique in one request set
  DeviceKind kind = DeviceKind::kHost;
  // What one rank of one replica reserves on its device (the larger of the declared and the
  // computed cost, see replica_cost.h).
  uint64_t bytes_per_rank = 0;
  // Devices one replica spans: tensor_parallel x pipeline_parallel.
  int ranks = 1;
  // How many replicas; with `max_replicas`, as many as fit (this field is then ignored).
  int replicas = 1;
  bool max_replicas = false;
};

// One placed replica: rank r of it goes to devices[r].
struct PlacedReplica {
  std::string model;
  int replica = 0;  // 0, 1, ... within its model
  std::vector<std::string> devices;
  uint64_t bytes_per_rank = 0;
};

struct Plan {
  std::vector<PlacedReplica> replicas;
  // The devices after the plan's reservations (same order as given).
  std::vector<DeviceCapacity> devices;
};

// The plan for `requests` on `devices` (see the file comment). InvalidArgument for a malformed
// request (duplicate model or device id, ranks < 1, replicas < 0, zero cost); ResourceExhausted
// for a request set that does not fit, naming the model, the replica and each device's room.
absl::StatusOr<Plan> PlanPlacement(std::span<const DeviceCapacity> devices,
                                   std::span<const ReplicaRequest> requests);

}  // namespace infer::cluster

#endif  // INFER_CLUSTER_PLACEMENT_H_
