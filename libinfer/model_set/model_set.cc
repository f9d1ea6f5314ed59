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
#include "libinfer/cluster/devices.h"
#include "libinfer/cluster/placement.h"
#include "libinfer/cluster/replica_cost.h"
#include "libinfer/engine/kv_budget.h"
#include "libinfer/engine/scheduling_policy.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/tokenizer/chat_template.h"
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
