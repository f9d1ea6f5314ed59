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

using Replica = ReplicaLease::Replica;

// The model's chat template, parsed and tried on an ordinary conversation (model_set.cc).
absl::Status CheckChatTemplate(const Model& model);
// "model 'name'", or where the entry was written.
std::string Origin(const ModelSpec& m);
// Whether `a` and `b` load the same replicas: every field but the count and the origin.
bool SameReplicas(ModelSpec a, ModelSpec b);

class ModelSet::Impl {
 public:
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

  absl::StatusOr<ModelSetPlan> Plan(const ModelSetSpec& spec) const {
    std::lock_guard<std::mutex> changes(apply_mu_);
    INFER_ASSIGN_OR_RETURN(Change change, MakeChange(spec));
    return change.plan;
  }

  absl::StatusOr<ModelSetPlan> Apply(const ModelSetSpec& spec) {
    std::lock_guard<std::mutex> changes(apply_mu_);
    return Recorded(ApplyLocked(spec));
  }

  absl::StatusOr<ModelSetPlan> Edit(const std::function<absl::Status(ModelSetSpec&)>& edit) {
    std::lock_guard<std::mutex> changes(apply_mu_);
    ModelSetSpec spec = spec_;
    if (absl::Status s = edit(spec); !s.ok()) return Recorded(s);
    return Recorded(ApplyLocked(spec));
  }

  void ReportRefusedChange(const std::string& why) {
    const std::string line = absl::StrCat(
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()), ": ", why);
    std::lock_guard<std::mutex> lock(mu_);
    last_refused_change_ = line;
  }

  absl::Status Adopt(const std::string& name, Model& model, Scheduler& scheduler,
                     const SamplingDefaults& sampling) {
    std::lock_guard<std::mutex> changes(apply_mu_);
    if (name.empty()) return absl::InvalidArgumentError("a served model needs a name");
    INFER_RETURN_IF_ERROR(CheckChatTemplate(model));
    auto r = std::make_shared<Replica>();
    r->model_name = name;
    r->model = &model;
    r->scheduler = &scheduler;
    r->sampling = sampling;
    r->adopted = true;
    r->devices = {"host"};
    std::lock_guard<std::mutex> lock(mu_);
    if (models_.count(name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("the model name '", name, "' is in use"));
    }
    Entry& e = models_[name];
    e.adopted = true;
    e.spec.name = name;
    e.spec.path = model.info().path;
    e.replicas.push_back(std::move(r));
    return absl::OkStatus();
  }

  absl::StatusOr<ReplicaLease> Acquire(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      std::vector<std::string> served;
      for (const auto& [n, e] : models_) served.push_back(absl::StrCat("`", n, "`"));
      return absl::NotFoundError(
          absl::StrCat("The model `", std::string(name), "` does not exist (served: ",
                       served.empty() ? "none" : absl::StrJoin(served, ", "), ")."));
    }
    Entry& e = it->second;
    const size_t n = e.replicas.size();
    Replica* best = nullptr;
    size_t best_at = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t at = (e.next_turn + k) % n;
      Replica* r = e.replicas[at].get();
      if (r->loading || r->draining) continue;
      if (best == nullptr || r->outstanding.load() < best->outstanding.load()) {
        best = r;
        best_at = at;
      }
    }
    if (best == nullptr) {
      return absl::UnavailableError(absl::StrCat("The model `", std::string(name),
                                                 "` has no replica taking requests right now "
                                                 "(loading or draining); try again shortly."));
    }
    e.next_turn = best_at + 1;
    {
      std::lock_guard<std::mutex> count(best->mu);
      best->outstanding.fetch_add(1);
    }
    return ReplicaLease(e.replicas[best_at]);
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [name, e] : models_) out.push_back(name);
    return out;
  }

  ModelSetSpec spec() const {
    std::lock_guard<std::mutex> changes(apply_mu_);
    return spec_;
  }

  ModelSetState State() const {
    const cluster::DeviceInventory inventory = monitor_.Snapshot();
    ModelSetState state;
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::pair<uint64_t, std::vector<std::string>>> on_device;
    for (const auto& [name, e] : models_) {
      ModelState& m = state.models.emplace_back();
      m.name = name;
      m.path = e.spec.path;
      m.max_replicas = e.spec.max_replicas;
      for (const auto& r : e.replicas) {
        if (r->scheduler != nullptr) m.context_length = r->scheduler->context_length();
        ReplicaState& rs = m.replicas.emplace_back();
        rs.index = r->index;
        rs.devices = r->devices;
        rs.reserved_bytes_per_rank = r->bytes_per_rank;
        rs.cost = r->cost;
        rs.adopted = r->adopted;
        rs.draining = r->draining;
        rs.outstanding = r->outstanding.load();
        if (r->scheduler != nullptr && !r->loading) rs.stats = r->scheduler->stats();
        for (const std::string& d : r->devices) {
          on_device[d].first += r->bytes_per_rank;
          on_device[d].second.push_back(absl::StrCat(name, "/", r->index));
        }
      }
    }
    for (const cluster::DeviceCapacity& c : CapacitiesLocked(inventory, {})) {
      DeviceState& d = state.devices.emplace_back();
      d.id = c.id;
      d.kind = cluster::DeviceKindName(c.kind);
      for (const cluster::DeviceInfo& info : inventory.devices) {
        if (info.id == c.id) d.name = info.name;
      }
      if (options_.host_memory_limit_bytes > 0 && c.kind == cluster::DeviceKind::kHost) {
        d.name = "host memory (the set's limit)";
      }
      d.total_bytes = c.total_bytes;
      d.reserved_bytes = c.reserved_bytes;
      d.free_bytes = c.available_bytes();
      d.replicas = on_device[c.id].second;
    }
    state.last_refused_change = last_refused_change_;
    return state;
  }

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
  void Drain(const std::vector<std::shared_ptr<Replica>>& replicas) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& r : replicas) r->draining = true;
    }
    const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
    for (const auto& r : replicas) {
      std::unique_lock<std::mutex> lock(r->mu);
      if (!r->cv.wait_until(lock, deadline, [&] { return r->outstanding.load() == 0; })) {
        INFER_LOG(kWarning,
                  "model set: %s/%d: %d request(s) still running after the drain "
                  "timeout; cancelling them",
                  r->model_name, r->index, static_cast<int>(r->outstanding.load()));
        lock.unlock();
        if (r->scheduler != nullptr) r->scheduler->Shutdown(Scheduler::ShutdownMode::kCancel);
        lock.lock();
        // The cancelled requests finish within a step; their hosts then give the leases back.
        while (!r->cv.wait_for(lock, std::chrono::seconds(10),
                               [&] { return r->outstanding.load() == 0; })) {
          INFER_LOG(kWarning, "model set: %s/%d: waiting for %d lease(s) to be given back",
                    r->model_name, r->index, static_cast<int>(r->outstanding.load()));
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& r : replicas) {
        auto it = models_.find(r->model_name);
        if (it == models_.end()) continue;
        std::erase(it->second.replicas, r);
      }
    }
    for (const auto& r : replicas) {
      r->Unload();
      INFER_LOG(kInfo, "model set: %s/%d unloaded", r->model_name, r->index);
    }
  }

  // Loads one planned replica; its reservation is in the table (not routable) meanwhile.
  absl::Status LoadReplica(const Load& l) {
    auto r = std::make_shared<Replica>();
    r->model_name = l.spec.name;
    r->index = l.index;
    r->sampling = l.spec.sampling;
    r->devices = l.devices;
    r->bytes_per_rank = l.bytes_per_rank;
    r->cost = l.cost;
    r->loading = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Entry& e = models_[l.spec.name];
      e.spec = l.spec;
      e.replicas.push_back(r);
      std::sort(e.replicas.begin(), e.replicas.end(),
                [](const auto& a, const auto& b) { return a->index < b->index; });
    }
    auto loaded = [&]() -> absl::Status {
      ModelOptions mo;
      mo.path = l.spec.path;
      mo.num_threads = l.spec.threads > 0 ? l.spec.threads : options_.default_threads;
      mo.max_context = l.spec.context_length;
      INFER_ASSIGN_OR_RETURN(r->owned_model, Model::Load(mo));
      INFER_RETURN_IF_ERROR(CheckChatTemplate(*r->owned_model));
      SchedulerOptions so = l.spec.scheduler;
      so.kv_cache_bytes = l.kv_cache_bytes;
      INFER_ASSIGN_OR_RETURN(r->owned_scheduler, Scheduler::Create(*r->owned_model, so));
      r->model = r->owned_model.get();
      r->scheduler = r->owned_scheduler.get();
      return absl::OkStatus();
    }();
    if (!loaded.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        std::erase(models_[l.spec.name].replicas, r);
      }
      r->Unload();  // its reservation went with it from the table
      return absl::Status(loaded.code(), absl::StrCat(Origin(l.spec), ": replica ", l.index,
                                                      " failed to load: ", loaded.message()));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      r->loading = false;
    }
    INFER_LOG(kInfo, "model set: %s/%d loaded on %s: %s", l.spec.name, l.index,
              absl::StrJoin(l.devices, ","), l.cost);
    return absl::OkStatus();
  }

  absl::StatusOr<ModelSetPlan> ApplyLocked(const ModelSetSpec& spec) {
    INFER_ASSIGN_OR_RETURN(Change change, MakeChange(spec));
    Drain(change.unloads);
    {
      // Models no longer in the spec leave the table once drained; the rest take the new spec.
      std::set<std::string> names;
      for (const ModelSpec& m : spec.models) names.insert(m.name);
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = models_.begin(); it != models_.end();) {
        if (!it->second.adopted && names.count(it->first) == 0) {
          it = models_.erase(it);
        } else {
          ++it;
        }
      }
      for (const ModelSpec& m : spec.models) {
        auto it = models_.find(m.name);
        if (it != models_.end() && !it->second.adopted) it->second.spec = m;
      }
    }
    spec_ = spec;
    for (const Load& l : change.loads) {
      if (absl::Status s = LoadReplica(l); !s.ok()) {
        INFER_LOG(kError, "model set: %s", s.message());
        return s;
      }
    }
    return change.plan;
  }

  absl::StatusOr<ModelSetPlan> Recorded(absl::StatusOr<ModelSetPlan> result) {
    if (!result.ok()) ReportRefusedChange(std::string(result.status().message()));
    return result;
  }

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
