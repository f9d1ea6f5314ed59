// The change planner: what a new spec of the set's own models costs, replica by replica, and
// where placement puts the replicas, against the table as it is (model_set_impl.h).
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libinfer/engine/kv_budget.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model_set/model_set_impl.h"

namespace infer {

uint64_t ModelSet::Impl::DefaultKvBytes(const ModelSpec& m, const ModelConfig& config) const {
  const int64_t block = std::max<int32_t>(1, m.scheduler.block_size);
  const uint64_t per_block = WholeModelKvShape(config).BytesPerBlock(block);
  KvBudgetInputs in;
  in.one_sequence_bytes =
      static_cast<uint64_t>(BlocksFor(config.context_length, block)) * per_block;
  in.max_num_seqs = m.scheduler.max_num_seqs;
  // The same rule as one model's Scheduler: at most kv_cache_memory_fraction of the host
  // memory free now (the cgroup's limit counts), and at most the set's ceiling.
  in.ceiling_bytes = options_.default_kv_cache_bytes;
  in.free_fraction = m.scheduler.kv_cache_memory_fraction;
  for (const cluster::DeviceInfo& d : monitor_.Snapshot().devices) {
    if (d.kind == cluster::DeviceKind::kHost) in.free_bytes = d.free_bytes;
  }
  in.context_length = config.context_length;
  // Whether it fits is placement's question (every device, every replica): not checked here.
  return *DefaultKvCacheBytes(in);
}

absl::StatusOr<std::pair<cluster::ReplicaCost, uint64_t>> ModelSet::Impl::Cost(
    const ModelSpec& m) const {
  auto files = OpenModelFiles(m.path);
  if (!files.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Origin(m), ": ", files.status().message()));
  }
  ModelConfig config = files->config;
  if (m.context_length > config.context_length) {
    return absl::InvalidArgumentError(absl::StrCat(Origin(m), ": context_length ", m.context_length,
                                                   " exceeds the model's context length ",
                                                   config.context_length));
  }
  if (m.context_length > 0) config.context_length = m.context_length;
  const uint64_t kv =
      m.scheduler.kv_cache_bytes > 0 ? m.scheduler.kv_cache_bytes : DefaultKvBytes(m, config);
  cluster::ReplicaCostOptions o;
  o.tensor_parallel = m.tensor_parallel;
  o.pipeline_parallel = m.pipeline_parallel;
  o.kv_cache_bytes = kv;
  o.max_num_batched_tokens = m.scheduler.max_num_batched_tokens;
  o.max_num_seqs = m.scheduler.max_num_seqs;
  o.runtime_bytes = options_.runtime_bytes;
  o.declared_bytes = m.memory_bytes;
  auto cost = cluster::ComputeReplicaCost(config, *files->weights, o);
  if (!cost.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Origin(m), ": ", cost.status().message()));
  }
  return std::make_pair(*cost, kv);
}

std::vector<cluster::DeviceCapacity> ModelSet::Impl::CapacitiesLocked(
    const cluster::DeviceInventory& inventory, const std::set<const Replica*>& leaving) const {
  std::map<std::string, uint64_t> reserved;
  for (const auto& [name, e] : models_) {
    for (const auto& r : e.replicas) {
      if (leaving.count(r.get()) > 0) continue;
      for (const std::string& d : r->devices) reserved[d] += r->bytes_per_rank;
    }
  }
  std::vector<cluster::DeviceCapacity> out;
  for (const cluster::DeviceInfo& d : inventory.devices) {
    if (d.kind == cluster::DeviceKind::kHost && options_.host_memory_limit_bytes > 0) {
      cluster::DeviceCapacity c;
      c.id = d.id;
      c.kind = d.kind;
      c.total_bytes = options_.host_memory_limit_bytes;
      c.reserved_bytes = reserved[d.id];
      out.push_back(c);
      continue;
    }
    // What this process holds on the host is ours (its resident set); on a GPU our
    // reservations stand for it.
    const uint64_t held = d.kind == cluster::DeviceKind::kHost ? d.used_by_us_bytes : 0;
    out.push_back(cluster::CapacityOf(d, reserved[d.id], held));
  }
  return out;
}

absl::Status ModelSet::Impl::Refused(const std::vector<std::string>& errors) {
  return absl::InvalidArgumentError(
      absl::StrCat("the model set is refused: ", absl::StrJoin(errors, "; ")));
}

void ModelSet::Impl::CheckSpec(const ModelSetSpec& spec, std::set<std::string>* names,
                               std::vector<std::string>* errors) {
  for (const ModelSpec& m : spec.models) {
    if (m.name.empty()) errors->push_back(absl::StrCat(Origin(m), ": name: empty"));
    if (!names->insert(m.name).second) {
      errors->push_back(absl::StrCat(Origin(m), ": name: '", m.name, "' appears twice"));
    }
    if (m.tensor_parallel * m.pipeline_parallel != 1) {
      errors->push_back(absl::StrCat(
          Origin(m),
          ": tensor_parallel x pipeline_parallel = ", m.tensor_parallel * m.pipeline_parallel,
          ": a model set places single-rank replicas; serve a model spread over ranks alone "
          "(infer-cli serve --tensor-parallel-size)"));
    }
    if (m.device != "host") {
      errors->push_back(absl::StrCat(Origin(m), ": device: '", m.device,
                                     "': replicas of a model set run on the host in this build"));
    }
    if (!m.max_replicas && m.replicas < 0) {
      errors->push_back(absl::StrCat(Origin(m), ": replicas: ", m.replicas, " is negative"));
    }
  }
}

std::vector<ModelSet::Impl::Wanted> ModelSet::Impl::Diff(const ModelSetSpec& spec,
                                                         const std::set<std::string>& names,
                                                         Change* change,
                                                         std::vector<std::string>* errors) const {
  std::vector<Wanted> wanted;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, e] : models_) {
    if (e.adopted) {
      if (names.count(name) > 0) {
        errors->push_back(absl::StrCat(
            "model '", name, "': the name is held by the model served on the command line"));
      }
      continue;
    }
    if (names.count(name) == 0) {
      for (const auto& r : e.replicas) change->unloads.push_back(r);
    }
  }
  for (const ModelSpec& m : spec.models) {
    auto it = models_.find(m.name);
    if (it != models_.end() && it->second.adopted) continue;
    const std::vector<std::shared_ptr<Replica>> none;
    const auto& have = it == models_.end() ? none : it->second.replicas;
    if (it != models_.end() && SameReplicas(it->second.spec, m)) {
      if (m.max_replicas) continue;  // `max` is counted when the model (re)loads
      const int n = static_cast<int>(have.size());
      if (m.replicas < n) {
        for (int i = m.replicas; i < n; ++i) change->unloads.push_back(have[i]);
      } else if (m.replicas > n) {
        wanted.push_back({&m, n, m.replicas - n});
      }
      continue;
    }
    for (const auto& r : have) change->unloads.push_back(r);
    wanted.push_back({&m, 0, m.max_replicas ? -1 : m.replicas});
  }
  return wanted;
}

std::vector<cluster::ReplicaRequest> ModelSet::Impl::CostRequests(
    const std::vector<Wanted>& wanted,
    std::map<std::string, std::pair<cluster::ReplicaCost, uint64_t>>* costs,
    std::vector<std::string>* errors) const {
  std::vector<cluster::ReplicaRequest> requests;
  for (const Wanted& w : wanted) {
    if (w.count == 0) continue;
    auto cost = Cost(*w.spec);
    if (!cost.ok()) {
      errors->push_back(std::string(cost.status().message()));
      continue;
    }
    (*costs)[w.spec->name] = *cost;
    cluster::ReplicaRequest q;
    q.model = w.spec->name;
    q.kind = cluster::DeviceKind::kHost;
    q.bytes_per_rank = cost->first.per_rank;
    q.ranks = 1;
    q.replicas = std::max(0, w.count);
    q.max_replicas = w.count < 0;
    requests.push_back(q);
  }
  return requests;
}

absl::StatusOr<ModelSet::Impl::Change> ModelSet::Impl::MakeChange(const ModelSetSpec& spec) const {
  Change change;
  std::vector<std::string> errors;
  std::set<std::string> names;
  CheckSpec(spec, &names, &errors);
  const std::vector<Wanted> wanted = Diff(spec, names, &change, &errors);
  if (!errors.empty()) return Refused(errors);
  std::map<std::string, std::pair<cluster::ReplicaCost, uint64_t>> costs;
  const std::vector<cluster::ReplicaRequest> requests = CostRequests(wanted, &costs, &errors);
  if (!errors.empty()) return Refused(errors);
  std::set<const Replica*> leaving;
  for (const auto& r : change.unloads) leaving.insert(r.get());
  std::vector<cluster::DeviceCapacity> devices;
  {
    const cluster::DeviceInventory inventory = monitor_.Snapshot();
    std::lock_guard<std::mutex> lock(mu_);
    devices = CapacitiesLocked(inventory, leaving);
  }
  INFER_ASSIGN_OR_RETURN(cluster::Plan placed, cluster::PlanPlacement(devices, requests));

  for (const auto& r : change.unloads) {
    change.plan.unloads.push_back(
        {r->model_name, r->index, r->devices, r->bytes_per_rank, r->cost});
  }
  for (const cluster::PlacedReplica& p : placed.replicas) {
    const Wanted& w = *std::find_if(wanted.begin(), wanted.end(),
                                    [&](const Wanted& x) { return x.spec->name == p.model; });
    const auto& [cost, kv] = costs[p.model];
    Load l;
    l.spec = *w.spec;
    l.index = w.first_index + p.replica;
    l.devices = p.devices;
    l.bytes_per_rank = p.bytes_per_rank;
    l.kv_cache_bytes = kv;
    l.cost = cost.Describe();
    change.plan.loads.push_back({p.model, l.index, l.devices, l.bytes_per_rank, l.cost});
    change.loads.push_back(std::move(l));
  }
  return change;
}

}  // namespace infer
