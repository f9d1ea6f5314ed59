#include "libinfer/cluster/placement.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "libinfer/cluster/replica_cost.h"

namespace infer::cluster {
namespace {

absl::Status CheckInputs(std::span<const DeviceCapacity> devices,
                         std::span<const ReplicaRequest> requests) {
  std::set<std::string> ids;
  for (const DeviceCapacity& d : devices) {
    if (d.id.empty()) return absl::InvalidArgumentError("a device has no id");
    if (!ids.insert(d.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("device '", d.id, "' is listed twice"));
    }
  }
  std::set<std::string> models;
  for (const ReplicaRequest& r : requests) {
    const std::string where = absl::StrCat("model '", r.model, "': ");
    if (r.model.empty()) return absl::InvalidArgumentError("a model has no name");
    if (!models.insert(r.model).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "named twice"));
    }
    if (r.ranks < 1) {
      return absl::InvalidArgumentError(absl::StrCat(where, "ranks must be >= 1, got ", r.ranks));
    }
    if (!r.max_replicas && r.replicas < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "replicas must be >= 0, got ", r.replicas));
    }
    if (r.bytes_per_rank == 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "a replica must cost some memory"));
    }
  }
  return absl::OkStatus();
}

// The devices for one replica of `r`, best fit, or an empty list when fewer than r.ranks fit.
std::vector<size_t> Choose(const std::vector<DeviceCapacity>& devices, const ReplicaRequest& r) {
  std::vector<size_t> fit;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].kind == r.kind && devices[i].available_bytes() >= r.bytes_per_rank) {
      fit.push_back(i);
    }
  }
  if (fit.size() < static_cast<size_t>(r.ranks)) return {};
  std::sort(fit.begin(), fit.end(), [&](size_t a, size_t b) {
    const uint64_t ra = devices[a].available_bytes(), rb = devices[b].available_bytes();
    return ra != rb ? ra < rb : devices[a].id < devices[b].id;
  });
  fit.resize(static_cast<size_t>(r.ranks));
  return fit;
}

void Reserve(std::vector<DeviceCapacity>& devices, const std::vector<size_t>& chosen,
             const ReplicaRequest& r, int index, Plan& plan) {
  PlacedReplica placed;
  placed.model = r.model;
  placed.replica = index;
  placed.bytes_per_rank = r.bytes_per_rank;
  for (size_t i : chosen) {
    devices[i].reserved_bytes += r.bytes_per_rank;
    placed.devices.push_back(devices[i].id);
  }
  plan.replicas.push_back(std::move(placed));
}

absl::Status Refusal(const std::vector<DeviceCapacity>& devices, const ReplicaRequest& r,
                     int index) {
  std::string room;
  for (const DeviceCapacity& d : devices) {
    if (d.kind != r.kind) continue;
    absl::StrAppend(&room, room.empty() ? "" : ", ", d.id, " has ",
                    FormatBytes(d.available_bytes()), " of ", FormatBytes(d.total_bytes));
  }
  if (room.empty()) room = absl::StrCat("there is no ", DeviceKindName(r.kind), " device");
  return absl::ResourceExhaustedError(
      absl::StrCat("model '", r.model, "' replica ", index, " does not fit: it needs ", r.ranks,
                   r.ranks == 1 ? " device" : " devices", " with ", FormatBytes(r.bytes_per_rank),
                   " free", r.ranks == 1 ? "" : " each", "; ", room));
}

}  // namespace

const char* DeviceKindName(DeviceKind kind) { return kind == DeviceKind::kHost ? "host" : "cuda"; }

uint64_t DeviceCapacity::available_bytes() const {
  const uint64_t taken = used_by_others_bytes + reserved_bytes;
  return taken >= total_bytes ? 0 : total_bytes - taken;
}

absl::StatusOr<Plan> PlanPlacement(std::span<const DeviceCapacity> devices,
                                   std::span<const ReplicaRequest> requests) {
  if (absl::Status s = CheckInputs(devices, requests); !s.ok()) return s;
  Plan plan;
  plan.devices.assign(devices.begin(), devices.end());
  // Fixed counts first: what must be there is placed before what may grow.
  for (const ReplicaRequest& r : requests) {
    if (r.max_replicas) continue;
    for (int i = 0; i < r.replicas; ++i) {
      const std::vector<size_t> chosen = Choose(plan.devices, r);
      if (chosen.empty()) return Refusal(plan.devices, r, i);
      Reserve(plan.devices, chosen, r, i, plan);
    }
  }
  for (const ReplicaRequest& r : requests) {
    if (!r.max_replicas) continue;
    int placed = 0;
    for (;; ++placed) {
      const std::vector<size_t> chosen = Choose(plan.devices, r);
      if (chosen.empty()) break;
      Reserve(plan.devices, chosen, r, placed, plan);
    }
    if (placed == 0) return Refusal(plan.devices, r, 0);
  }
  return plan;
}

}  // namespace infer::cluster
