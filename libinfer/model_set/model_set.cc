// The model registry (include/infer/model_set.h): a table of models, each a list of replicas,
// changed only by planned steps (unloads, then loads; planned in change_planner.cc) and read by
// Acquire without waiting for a change. The locks are model_set_impl.h's.
#include "infer/model_set.h"

#include "libinfer/model_set/model_set_impl.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libinfer/chat/chat_template.h"
#include "libinfer/cluster/devices.h"
#include "libinfer/cluster/placement.h"
#include "libinfer/cluster/replica_cost.h"
#include "libinfer/engine/kv_budget.h"
#include "libinfer/engine/scheduling_policy.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"

namespace infer {

using cluster::FormatBytes;

void ApplySamplingDefaults(const SamplingDefaults& d, SamplingParams* p) {
  if (d.temperature) p->temperature = *d.temperature;
  if (d.top_p) p->top_p = *d.top_p;
  if (d.top_k) p->top_k = *d.top_k;
  if (d.min_p) p->min_p = *d.min_p;
  if (d.repetition_penalty) p->repetition_penalty = *d.repetition_penalty;
  if (d.presence_penalty) p->presence_penalty = *d.presence_penalty;
  if (d.frequency_penalty) p->frequency_penalty = *d.frequency_penalty;
  if (d.max_tokens) p->max_tokens = *d.max_tokens;
}

std::string ModelSetPlan::Describe() const {
  std::vector<std::string> parts;
  for (const Step& s : unloads) {
    parts.push_back(absl::StrCat("unload ", s.model, "/", s.replica, " (",
                                 absl::StrJoin(s.devices, ","), ", ", FormatBytes(s.bytes_per_rank),
                                 ")"));
  }
  for (const Step& s : loads) {
    parts.push_back(absl::StrCat("load ", s.model, "/", s.replica, " on ",
                                 absl::StrJoin(s.devices, ","), ": ", s.cost));
  }
  return parts.empty() ? "no change" : absl::StrJoin(parts, "; ");
}

// ---- Replicas and leases ---------------------------------------------------------------------

ReplicaLease::ReplicaLease(std::shared_ptr<Replica> replica) : replica_(std::move(replica)) {}
ReplicaLease::ReplicaLease(ReplicaLease&& other) noexcept = default;
ReplicaLease& ReplicaLease::operator=(ReplicaLease&& other) noexcept {
  if (this != &other) {
    Release();
    replica_ = std::move(other.replica_);
  }
  return *this;
}
ReplicaLease::~ReplicaLease() { Release(); }

void ReplicaLease::Release() {
  if (!replica_) return;
  {
    std::lock_guard<std::mutex> lock(replica_->mu);
    replica_->outstanding.fetch_sub(1);
  }
  replica_->cv.notify_all();
  replica_.reset();
}

Model& ReplicaLease::model() const { return *replica_->model; }
Scheduler& ReplicaLease::scheduler() const { return *replica_->scheduler; }
const std::string& ReplicaLease::model_name() const { return replica_->model_name; }
int ReplicaLease::replica_index() const { return replica_->index; }
const SamplingDefaults& ReplicaLease::sampling_defaults() const { return replica_->sampling; }

// The model's chat template, parsed and tried on an ordinary conversation: a template that
// parses can still fail on every conversation (an undefined variable, a raise_exception on a
// plain turn order), and that is found out here, not at the first request.
absl::Status CheckChatTemplate(const Model& model) {
  if (model.chat_template().empty()) return absl::OkStatus();
  const absl::StatusOr<const ChatTemplate*> parsed = ChatTemplateOf(model);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(model.info().path,
                     ": the model's chat template cannot be used: ", parsed.status().message()));
  }
  ChatTemplateInputs trial = BaseChatInputs(model.tokenizer());
  trial.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hello"}},
                                                  {{"role", "assistant"}, {"content", "Hi!"}},
                                                  {{"role", "user"}, {"content", "Thanks"}}});
  if (auto text = (*parsed)->RenderChat(trial); !text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(model.info().path,
                     ": the model's chat template fails on a user/assistant/user conversation: ",
                     text.status().message()));
  }
  return absl::OkStatus();
}

std::string Origin(const ModelSpec& m) {
  return m.origin.empty() ? absl::StrCat("model '", m.name, "'") : m.origin;
}

// Whether `a` and `b` load the same replicas: every field but the count (and where the entry
// was written) matters.
bool SameReplicas(ModelSpec a, ModelSpec b) {
  a.replicas = b.replicas = 0;
  a.origin = b.origin = "";
  return a == b;
}

// ---- The registry and the executor ---------------------------------------------------------

absl::StatusOr<ModelSetPlan> ModelSet::Impl::Plan(const ModelSetSpec& spec) const {
  std::lock_guard<std::mutex> changes(apply_mu_);
  INFER_ASSIGN_OR_RETURN(Change change, MakeChange(spec));
  return change.plan;
}

absl::StatusOr<ModelSetPlan> ModelSet::Impl::Apply(const ModelSetSpec& spec) {
  std::lock_guard<std::mutex> changes(apply_mu_);
  return Recorded(ApplyLocked(spec));
}

absl::StatusOr<ModelSetPlan> ModelSet::Impl::Edit(
    const std::function<absl::Status(ModelSetSpec&)>& edit) {
  std::lock_guard<std::mutex> changes(apply_mu_);
  ModelSetSpec spec = spec_;
  if (absl::Status s = edit(spec); !s.ok()) return Recorded(s);
  return Recorded(ApplyLocked(spec));
}

void ModelSet::Impl::ReportRefusedChange(const std::string& why) {
  const std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()), ": ", why);
  std::lock_guard<std::mutex> lock(mu_);
  last_refused_change_ = line;
}

absl::Status ModelSet::Impl::Adopt(const std::string& name, Model& model, Scheduler& scheduler,
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

absl::StatusOr<ReplicaLease> ModelSet::Impl::Acquire(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::vector<std::string> served;
    for (const auto& [n, e] : models_) served.push_back(absl::StrCat("`", n, "`"));
    return absl::NotFoundError(absl::StrCat(
        "The model `", std::string(name),
        "` does not exist (served: ", served.empty() ? "none" : absl::StrJoin(served, ", "), ")."));
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

std::vector<std::string> ModelSet::Impl::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, e] : models_) out.push_back(name);
  return out;
}

ModelSetSpec ModelSet::Impl::spec() const {
  std::lock_guard<std::mutex> changes(apply_mu_);
  return spec_;
}

ModelSetState ModelSet::Impl::State() const {
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
      if (!r->loading && r->model != nullptr) m.file_type = r->model->info().file_type;
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

void ModelSet::Impl::Drain(const std::vector<std::shared_ptr<Replica>>& replicas) {
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

absl::Status ModelSet::Impl::LoadReplica(const Load& l) {
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

absl::StatusOr<ModelSetPlan> ModelSet::Impl::ApplyLocked(const ModelSetSpec& spec) {
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

absl::StatusOr<ModelSetPlan> ModelSet::Impl::Recorded(absl::StatusOr<ModelSetPlan> result) {
  if (!result.ok()) ReportRefusedChange(std::string(result.status().message()));
  return result;
}

// ---- ModelSet --------------------------------------------------------------------------------

ModelSet::ModelSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelSet::~ModelSet() = default;

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Create(const ModelSetOptions& options) {
  if (options.default_threads < 0) {
    return absl::InvalidArgumentError("ModelSetOptions::default_threads must be >= 0");
  }
  if (options.refresh_interval.count() <= 0) {
    return absl::InvalidArgumentError("ModelSetOptions::refresh_interval must be positive");
  }
  return std::unique_ptr<ModelSet>(new ModelSet(std::make_unique<Impl>(options)));
}

absl::StatusOr<ModelSetPlan> ModelSet::Plan(const ModelSetSpec& spec) const {
  return impl_->Plan(spec);
}
absl::StatusOr<ModelSetPlan> ModelSet::Apply(const ModelSetSpec& spec) {
  return impl_->Apply(spec);
}

absl::StatusOr<ModelSetPlan> ModelSet::Deploy(const ModelSpec& model) {
  return impl_->Edit([&](ModelSetSpec& spec) {
    auto it = std::find_if(spec.models.begin(), spec.models.end(),
                           [&](const ModelSpec& m) { return m.name == model.name; });
    if (it == spec.models.end()) {
      spec.models.push_back(model);
    } else {
      *it = model;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ModelSetPlan> ModelSet::Scale(std::string_view name, int replicas) {
  return impl_->Edit([&](ModelSetSpec& spec) {
    auto it = std::find_if(spec.models.begin(), spec.models.end(),
                           [&](const ModelSpec& m) { return m.name == name; });
    if (it == spec.models.end()) {
      return absl::NotFoundError(
          absl::StrCat("no model named '", std::string(name), "' is deployed in the model set"));
    }
    if (replicas < 0) {
      return absl::InvalidArgumentError(absl::StrCat("replicas: ", replicas, " is negative"));
    }
    it->replicas = replicas;
    it->max_replicas = false;
    return absl::OkStatus();
  });
}

absl::StatusOr<ModelSetPlan> ModelSet::Remove(std::string_view name) {
  return impl_->Edit([&](ModelSetSpec& spec) {
    const size_t before = spec.models.size();
    std::erase_if(spec.models, [&](const ModelSpec& m) { return m.name == name; });
    if (spec.models.size() == before) {
      return absl::NotFoundError(
          absl::StrCat("no model named '", std::string(name), "' is deployed in the model set"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ModelSetPlan> ModelSet::RemoveAll() {
  return impl_->Edit([](ModelSetSpec& spec) {
    spec.models.clear();
    return absl::OkStatus();
  });
}

absl::Status ModelSet::Adopt(const std::string& name, Model& model, Scheduler& scheduler,
                             const SamplingDefaults& sampling) {
  return impl_->Adopt(name, model, scheduler, sampling);
}

absl::StatusOr<ReplicaLease> ModelSet::Acquire(std::string_view name) {
  return impl_->Acquire(name);
}

void ModelSet::ReportRefusedChange(const std::string& why) { impl_->ReportRefusedChange(why); }
std::vector<std::string> ModelSet::names() const { return impl_->names(); }
ModelSetSpec ModelSet::spec() const { return impl_->spec(); }
ModelSetState ModelSet::State() const { return impl_->State(); }

}  // namespace infer
