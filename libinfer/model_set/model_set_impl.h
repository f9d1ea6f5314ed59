// ModelSet's internals, shared by the registry (model_set.cc: leases, routing, the table, loads
// and drains) and the change planner (change_planner.cc: what a new spec costs and where its
// replicas go). Not installed.
//
// Locks: `apply_mu_` makes changes run one at a time and is held through a whole change (loads
// take seconds); `mu_` guards the table and is held only to read or edit it, never while a
// model loads or a replica drains. A replica's own mutex pairs with its lease count, which its
// drain waits on.
#ifndef INFER_MODEL_SET_MODEL_SET_IMPL_H_
#define INFER_MODEL_SET_MODEL_SET_IMPL_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "infer/model_set.h"
#include "libinfer/cluster/devices.h"
#include "libinfer/cluster/placement.h"
#include "libinfer/cluster/replica_cost.h"
#include "libinfer/format/model_config.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"

namespace infer {

struct ReplicaLease::Replica {
  std::string model_name;
  int index = 0;
  std::unique_ptr<Model> owned_model;
  std::unique_ptr<Scheduler> owned_scheduler;
  Model* model = nullptr;
  Scheduler* scheduler = nullptr;
  SamplingDefaults sampling;
  std::vector<std::string> devices;
  uint64_t bytes_per_rank = 0;  // reserved on each device; 0 for an adopted replica
  std::string cost;
  bool adopted = false;
  // Under ModelSet::Impl::mu_: whether Acquire may pick it.
  bool loading = false;
  bool draining = false;
  // Leases held; changed under `mu`, which the drain waits on with `cv`.
  std::atomic<int64_t> outstanding{0};
  std::mutex mu;
  std::condition_variable cv;

  // Stops and frees the model (never on the Scheduler's own thread: no lease is held).
  void Unload() {
    if (scheduler != nullptr) scheduler->Shutdown(Scheduler::ShutdownMode::kCancel);
    owned_scheduler.reset();
    owned_model.reset();
    scheduler = nullptr;
    model = nullptr;
  }
};

// The model's chat template, parsed and tried on an ordinary conversation (model_set.cc).
absl::Status CheckChatTemplate(const Model& model);
// "model 'name'", or where the entry was written.
std::string Origin(const ModelSpec& m);
// Whether `a` and `b` load the same replicas: every field but the count and the origin.
bool SameReplicas(ModelSpec a, ModelSpec b);

class ModelSet::Impl {
 public:
  using Replica = ReplicaLease::Replica;

  explicit Impl(const ModelSetOptions& options)
      : options_(options),
        monitor_(cluster::DeviceProbeOptions{options.system_root, options.nvml_library},
                 options.refresh_interval) {}

  ~Impl() {
    std::map<std::string, Entry, std::less<>> models;
    {
      std::lock_guard<std::mutex> lock(mu_);
      models.swap(models_);
    }
    for (auto& [name, entry] : models) {
      for (auto& r : entry.replicas) r->Unload();
    }
  }

  absl::StatusOr<ModelSetPlan> Plan(const ModelSetSpec& spec) const;

  absl::StatusOr<ModelSetPlan> Apply(const ModelSetSpec& spec);

  absl::StatusOr<ModelSetPlan> Edit(const std::function<absl::Status(ModelSetSpec&)>& edit);

  void ReportRefusedChange(const std::string& why);

  absl::Status Adopt(const std::string& name, Model& model, Scheduler& scheduler,
                     const SamplingDefaults& sampling);

  absl::StatusOr<ReplicaLease> Acquire(std::string_view name);

  std::vector<std::string> names() const;

  ModelSetSpec spec() const;

  ModelSetState State() const;

 private:
  struct Entry {
    ModelSpec spec;
    bool adopted = false;
    std::vector<std::shared_ptr<Replica>> replicas;
    size_t next_turn = 0;  // where the next tie is broken (round robin)
  };

  // A replica to load, as planned.
  struct Load {
    ModelSpec spec;
    int index = 0;
    std::vector<std::string> devices;
    uint64_t bytes_per_rank = 0;
    uint64_t kv_cache_bytes = 0;
    std::string cost;
  };

  struct Change {
    ModelSetPlan plan;
    std::vector<std::shared_ptr<Replica>> unloads;
    std::vector<Load> loads;
  };

  // KV bytes of a replica of `m` whose spec leaves it to the set (see ModelSetOptions).
  uint64_t DefaultKvBytes(const ModelSpec& m, const ModelConfig& config) const;

  // What one replica of `m` costs, and the KV bytes it gets.
  absl::StatusOr<std::pair<cluster::ReplicaCost, uint64_t>> Cost(const ModelSpec& m) const;

  // Placement's view of the devices, with every replica in the table reserved except those in
  // `leaving`. Under mu_.
  std::vector<cluster::DeviceCapacity> CapacitiesLocked(
      const cluster::DeviceInventory& inventory, const std::set<const Replica*>& leaving) const;

  // A model of the new spec that needs replicas loaded: from `first_index`, `count` of them
  // (-1: as many as fit).
  struct Wanted {
    const ModelSpec* spec;
    int first_index;
    int count;
  };

  static absl::Status Refused(const std::vector<std::string>& errors);

  // What a spec must hold whatever the set serves now: names, layouts, devices, counts.
  static void CheckSpec(const ModelSetSpec& spec, std::set<std::string>* names,
                        std::vector<std::string>* errors);

  // Against the table as it is: the replicas to unload (into `change`) and the loads wanted.
  std::vector<Wanted> Diff(const ModelSetSpec& spec, const std::set<std::string>& names,
                           Change* change, std::vector<std::string>* errors) const;

  // What each wanted replica costs, as placement requests; the cost and KV bytes by model.
  std::vector<cluster::ReplicaRequest> CostRequests(
      const std::vector<Wanted>& wanted,
      std::map<std::string, std::pair<cluster::ReplicaCost, uint64_t>>* costs,
      std::vector<std::string>* errors) const;

  // The steps that make the set's own models those of `spec`. Under apply_mu_.
  absl::StatusOr<Change> MakeChange(const ModelSetSpec& spec) const;

  // Stops routing to `replicas`, waits for their leases (cancelling their requests once the
  // drain timeout passes), unloads them and takes them out of the table.
  void Drain(const std::vector<std::shared_ptr<Replica>>& replicas);

  // Loads one planned replica; its reservation is in the table (not routable) meanwhile.
  absl::Status LoadReplica(const Load& l);

  absl::StatusOr<ModelSetPlan> ApplyLocked(const ModelSetSpec& spec);

  absl::StatusOr<ModelSetPlan> Recorded(absl::StatusOr<ModelSetPlan> result);

  const ModelSetOptions options_;
  cluster::DeviceMonitor monitor_;
  mutable std::mutex apply_mu_;
  ModelSetSpec spec_;  // under apply_mu_
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> models_;  // under mu_
  std::string last_refused_change_;                   // under mu_
};

}  // namespace infer

#endif  // INFER_MODEL_SET_MODEL_SET_IMPL_H_
